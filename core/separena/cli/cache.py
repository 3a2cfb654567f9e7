"""``separena cache list`` and ``separena cache remove``: what the generated data in the cache
folder (``$SEPARENA_CACHE`` or ``~/.cache/separena``) holds, and freeing its space. Every entry
is rebuilt from its sources when a data set needs it again.
"""

from __future__ import annotations

import fnmatch
import sys
import time
from datetime import datetime

import click
from rich.filesize import decimal
from rich.markup import escape
from rich.table import Table

from ..data.cache import CacheEntry, cache_entries, default_cache_dir, remove_entry
from ..errors import SeparenaError
from .common import complete_names, console, one_line_errors

__all__ = ["cache"]

_DAY = 86400.0


def _entries(n: int) -> str:
    return f"{n} entr{'y' if n == 1 else 'ies'}"


def _matching(entries: list[CacheEntry], patterns: tuple[str, ...]) -> list[CacheEntry]:
    return [e for e in entries
            if not patterns or any(fnmatch.fnmatchcase(e.name, p) or fnmatch.fnmatchcase(e.kind, p) for p in patterns)]


def _state(entry: CacheEntry) -> str:
    if entry.state == "building":
        return f"building (process {entry.pid})"
    if entry.state == "unfinished":
        return f"unfinished (process {entry.pid} gone)"
    if entry.mapped_by:
        return "in use (mapped by process " + ", ".join(map(str, entry.mapped_by)) + ")"
    return "complete"


def _no_match(command: str, patterns: tuple[str, ...], entries: list[CacheEntry]) -> SeparenaError:
    root = default_cache_dir()
    kinds = sorted({e.kind for e in entries})
    where = f"{root} holds " + ", ".join(kinds) if kinds else f"{root} is empty"
    return SeparenaError(f"{' '.join(('cache', command, *patterns))}: no cache entry matches; expected an entry's "
                         f"name or kind or an fnmatch pattern ({where})")


@click.group()
def cache() -> None:
    """List and remove the generated data kept in the cache ($SEPARENA_CACHE, else
    ~/.cache/separena); an entry removed is rebuilt when a data set needs it again."""


@cache.command("list")
@click.argument("patterns", nargs=-1, metavar="[PATTERN]...", shell_complete=complete_names("cache"))
@one_line_errors
def list_cmd(patterns: tuple[str, ...]) -> None:
    """List the cache's entries (all, or those whose name or kind matches a PATTERN): kind,
    size, files, last used, state, and the total."""
    entries = cache_entries()
    chosen = _matching(entries, patterns)
    if patterns and not chosen:
        raise _no_match("list", patterns, entries)
    root = default_cache_dir()
    table = Table(title=f"separena cache: {escape(str(root))}", show_footer=bool(chosen))
    total = sum(e.size for e in chosen)
    for column, footer in (("entry", _entries(len(chosen))), ("kind", ""), ("size", decimal(total)),
                           ("files", str(sum(e.files for e in chosen))), ("last used", ""), ("state", "")):
        table.add_column(column, footer=footer, justify="right" if column in ("size", "files") else "left",
                         overflow="fold")
    for entry in chosen:
        table.add_row(escape(entry.name), escape(entry.kind), decimal(entry.size), str(entry.files),
                      datetime.fromtimestamp(entry.last_used).strftime("%Y-%m-%d %H:%M"), _state(entry))
    console.print(table if chosen else f"separena cache: {escape(str(root))} is empty")


@cache.command("remove")
@click.argument("patterns", nargs=-1, metavar="[PATTERN]...", shell_complete=complete_names("cache"))
@click.option("--older-than", "older_than", type=click.FloatRange(min=0), default=None, metavar="DAYS",
              help="Only entries not used for DAYS days (last used as `cache list` shows it).")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.option("-y", "--yes", is_flag=True, help="Remove without asking.")
@one_line_errors
def remove(patterns: tuple[str, ...], older_than: float | None, dry_run: bool, yes: bool) -> None:
    """Remove the cache entries whose name or kind matches a PATTERN ('*' for all), or that were
    not used for --older-than DAYS. Entries a live process builds or memory-maps are kept."""
    if not patterns and older_than is None:
        raise SeparenaError("cache remove: expected PATTERN (an entry's name or kind, an fnmatch pattern, "
                            "'*' for all) or --older-than DAYS")
    entries = cache_entries()
    chosen = _matching(entries, patterns)
    if patterns and not chosen:
        raise _no_match("remove", patterns, entries)
    if older_than is not None:
        chosen = [e for e in chosen if time.time() - e.last_used > older_than * _DAY]
    busy = [e for e in chosen if e.state == "building" or e.mapped_by]
    doomed = [e for e in chosen if e not in busy]
    for entry in busy:
        console.print(f"kept {escape(entry.name)}: {_state(entry)}")
    size = decimal(sum(e.size for e in doomed))
    if not doomed:
        unused = f" (none unused for {older_than:g} days)" if older_than is not None else ""
        console.print(f"nothing to remove{unused}")
        return
    if dry_run:
        for entry in doomed:
            console.print(f"would remove {escape(entry.name)} ({decimal(entry.size)})")
        console.print(f"would free {size} ({_entries(len(doomed))})")
        return
    if not yes:
        if not sys.stdin.isatty():
            raise SeparenaError(f"cache remove: would remove {_entries(len(doomed))} ({size}); expected --yes to "
                                "remove them without asking, or --dry-run to list them")
        click.confirm(f"remove {_entries(len(doomed))} ({size}) from {default_cache_dir()}?", abort=True)
    for entry in doomed:
        remove_entry(entry)
        console.print(f"removed {escape(entry.name)} ({decimal(entry.size)})")
    console.print(f"freed {size} ({_entries(len(doomed))})")
