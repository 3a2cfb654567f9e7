"""One progress bar for every long job: training, evaluation, data generation, the benchmark."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

__all__ = ["progress_bar"]


def progress_bar(enabled: bool = True, *, transient: bool = True) -> Progress:
    """A rich progress bar on stderr (stdout stays for results); ``enabled=False`` shows nothing
    but keeps the same calls working. Each bar shows its elapsed time and, where it has a total,
    an estimate of the time left. ``transient`` bars vanish when done; data builds keep theirs
    as a record of how long the build took. Where stderr is not a terminal (a log file, a pipe)
    a transient bar shows nothing: it could not be redrawn, and its end would leave a blank line."""
    console = Console(stderr=True)
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console, transient=transient,
                    disable=not enabled or (transient and not console.is_terminal))
