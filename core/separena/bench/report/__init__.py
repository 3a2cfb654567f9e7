"""``separena report``: the stored leaderboard as Markdown, CSV, JSON and a static HTML page.

Besides the tables (intervals and rank ranges included), the report says whether the ranking
holds: Kendall's tau between the rankings of the same models on two test sets, two seeds, or
two suites of the same data, with the pairs that swap. Where suites share models (one task
under noise, in rooms, with three talkers), a table puts each model's test score in every
suite side by side, with its rank there. The HTML page adds plots (quality vs cost, learning
curves, SI-SDRi per mixture and against each source's input SI-SDR, the cross-suite table as a
heat map), a pairwise matrix of win rates and significance, and spectrograms beside the audio
players. The output folder is portable: images are PNG files beside ``index.html``, the example
audio is copied in, and every link is relative.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..store import ResultStore
from .page import copy_audio, write_html
from .plots import cross_suite_plot, suite_plots
from .suites import (Agreement, CrossSuite, SuiteReport, across_suites, all_reports, collect, collect_published,
                     ranking_agreements)
from .tables import write_csv, write_json, write_markdown, write_scores

__all__ = ["write_report", "SuiteReport", "collect", "collect_published", "all_reports", "Agreement",
           "ranking_agreements", "CrossSuite", "across_suites"]


def write_report(store: ResultStore | None, out_dir: str | Path, suites: Sequence[str] | None = None,
                 published: Any = None) -> list[Path]:
    """Write ``leaderboard.md``, ``.csv``, ``.json``, ``scores.csv`` (every stored score) and
    ``index.html`` (with plots and audio): the store's suites (none without a store), then those
    of ``published`` (a :class:`~separena.bench.published.PublishedStore`) beside them.

    Returns the paths written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    reports = all_reports(store, suites, published)
    agreements = ranking_agreements(reports)
    cross = across_suites(reports)
    written = [write_markdown(out, reports, agreements, cross), write_csv(out, reports),
               write_json(out, reports, agreements, cross), write_scores(out, reports)]
    plots = {r.name: suite_plots(out, r) for r in reports}
    audio = {r.name: copy_audio(out, store.artifacts_dir, r) if store is not None and not r.published else {}
             for r in reports}  # published runs keep no audio
    heat_map = cross_suite_plot(out, cross) if cross is not None else None
    written.append(write_html(out, reports, plots, audio, agreements, cross, heat_map))
    return written
