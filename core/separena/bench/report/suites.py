"""The report's content: each suite's leaderboard with its runs and pairwise tests, whether the
rankings agree, and the models several suites share, side by side."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import SeparenaError
from ...specs import BRACKETS
from ..leaderboard import (ByInput, Row, SourceScores, improvement_by_input, latest_runs, leaderboard, pairwise_tests,
                           per_source_scores)
from ..stats import PairTest, RankAgreement, rank_agreement
from ..store import ResultStore, StoredRun

__all__ = ["SuiteReport", "collect", "collect_published", "all_reports", "Agreement", "ranking_agreements",
           "CrossSuite", "across_suites"]


class SuiteReport:
    """One suite's leaderboard rows, the runs behind them and the pairwise tests on its test set."""

    def __init__(self, name: str, runs: list[StoredRun], rows: list[Row], published: bool = False) -> None:
        self.name, self.runs, self.rows, self.published = name, runs, rows, published
        models = [r.model for r in rows if r.kind == "model" and "test" in r.quality]
        self.pairs: list[PairTest] = pairwise_tests(runs, "test", models)

    @property
    def set_names(self) -> list[str]:
        """The test sets its runs scored: ``test`` first, then the others by name."""
        found = {k for r in self.runs for k in r.payload["sets"]}
        return [k for k in ("test",) if k in found] + sorted(found - {"test"})

    def per_source(self) -> list[SourceScores]:
        """Each set's scores per source role (music stems); empty where sources have no roles."""
        return [scores for name in self.set_names if (scores := per_source_scores(self.runs, name)) is not None]

    @functools.cached_property
    def by_input(self) -> ByInput | None:
        """The SI-SDRi of every model and oracle on test by the input SI-SDR of the source (the
        unprocessed mixture's row, 0 by definition, left out)."""
        shown = [r.model for r in self.rows if r.kind != "baseline" and "test" in r.quality]
        return improvement_by_input(self.runs, "test", shown)

    @property
    def slug(self) -> str:
        """The name as a file-name part (``speech-quick (published)`` -> ``speech-quick-published``)."""
        return re.sub(r"[^\w.-]+", "-", self.name).strip("-")

    @property
    def data_name(self) -> str:
        return self.runs[-1].payload["config"]["data_name"] if self.runs else ""

    @property
    def summary(self) -> str:
        if not self.runs:
            return "no finished runs yet"
        cfg = self.runs[-1].payload["config"]
        budget = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                           for k, v in cfg["budget"].items() if v is not None)
        return (f"data {cfg['data_name']} at {cfg['sample_rate']} Hz, {cfg['segment_seconds']:g}-s crops; "
                f"budget per model and seed: {budget}; code {cfg['code_version'].split('/')[0]}")


def collect(store: ResultStore, suites: Sequence[str] | None = None) -> list[SuiteReport]:
    """The leaderboard of each suite in the store (or of ``suites``)."""
    names = list(suites) if suites else store.suites()
    known = set(store.suites())
    out = []
    for name in names:
        if name not in known:
            raise SeparenaError(f"suite {name!r}: no runs in {store.path}; expected one of "
                                f"{', '.join(sorted(known)) or '(none: run `separena bench` first)'}")
        runs = store.runs(suite=name)
        out.append(SuiteReport(name, runs, leaderboard(runs, store.failures(suite=name))))
    return out


@dataclass(frozen=True)
class Agreement:
    """How well two rankings of the same models agree."""

    what: str  # which two rankings, e.g. "speech-quick: test vs real-dev"
    result: RankAgreement

    def line(self) -> str:
        r = self.result
        swaps = ", ".join(f"{a} > {b}" for a, b in r.swapped) or "none"
        return (f"{self.what}: Kendall's tau {r.tau:.2f} over {r.n} models (p {r.p_value:.3f}); "
                f"pairs that swap (order in the first): {swaps}")


def _model_means(runs: Sequence[StoredRun], set_name: str, seed: int | None = None) -> dict[str, float]:
    """Mean SI-SDRi per trained model on one set (one seed, or averaged over seeds)."""
    values: dict[str, list[float]] = {}
    for run in latest_runs(runs):
        if (seed is None or run.seed == seed) and run.payload["config"]["family"] not in BRACKETS \
                and set_name in run.payload["sets"]:
            values.setdefault(run.model, []).append(run.payload["sets"][set_name]["si_sdri_mean"])
    return {m: sum(v) / len(v) for m, v in values.items()}


def ranking_agreements(reports: Sequence[SuiteReport]) -> list[Agreement]:
    """Kendall's tau between rankings that should agree: ``test`` against each other test set of a
    suite, seed against seed, and two suites built on the same data (e.g. two budgets)."""
    out = []
    for rep in reports:
        test = _model_means(rep.runs, "test")
        for set_name in sorted({s for r in rep.runs for s in r.payload["sets"]} - {"test"}):
            out.append(Agreement(f"{rep.name}: test vs {set_name}",
                                 rank_agreement(test, _model_means(rep.runs, set_name))))
        seeds = sorted({r.seed for r in rep.runs if r.payload["config"]["family"] not in BRACKETS})
        for i, a in enumerate(seeds):
            for b in seeds[i + 1:]:
                out.append(Agreement(f"{rep.name}: seed {a} vs seed {b} (test)",
                                     rank_agreement(_model_means(rep.runs, "test", a),
                                                    _model_means(rep.runs, "test", b))))
    for i, a in enumerate(reports):
        for b in reports[i + 1:]:
            if a.data_name and a.data_name == b.data_name:
                out.append(Agreement(f"{a.name} vs {b.name} (test, same data)",
                                     rank_agreement(_model_means(a.runs, "test"), _model_means(b.runs, "test"))))
    return [a for a in out if a.result.n >= 2]


@dataclass(frozen=True)
class CrossSuite:
    """The trained models that several suites share, scored in each: ``means[model][suite]`` is
    the mean SI-SDRi on the suite's test set (seeds averaged), ``ranks[model][suite]`` its rank
    there among the models of the table (1 = best); a model a suite lacks has no entry. Models
    are ordered by their mean rank, suites as the report lists them; ``reference`` is the suite
    sharing the most models with the others, against which each other suite's ranking is set."""

    suites: list[str]
    models: list[str]
    means: dict[str, dict[str, float]]
    ranks: dict[str, dict[str, int]]
    reference: str
    agreements: list[Agreement]

    def cells(self) -> list[list[str]]:
        """One row per model: its name, then ``score (rank)`` in each suite, ``-`` where it has none."""
        return [[m] + [f"{self.means[m][c]:.2f} ({self.ranks[m][c]})" if c in self.means[m] else "-"
                       for c in self.suites] for m in self.models]


def across_suites(reports: Sequence[SuiteReport]) -> CrossSuite | None:
    """The models that two or more of ``reports`` trained, side by side (None where fewer than two
    suites share two models): a model's standing under noise, in rooms or with three talkers
    read against its standing on the task it was tuned on."""
    scored = {rep.name: {r.model: r.quality["test"]["si_sdri_mean"] for r in rep.rows if r.kind == "model"
                         and math.isfinite(r.quality.get("test", {}).get("si_sdri_mean", math.nan))}
              for rep in reports}
    columns, shared = list(scored), {m for by_model in scored.values() for m in by_model}
    while True:  # a model in two of the suites, a suite with two of the models: until both hold together
        kept = {m for m in shared if sum(m in scored[c] for c in columns) >= 2}
        narrowed = [c for c in columns if len(kept & set(scored[c])) >= 2]
        if kept == shared and narrowed == columns:
            break
        columns, shared = narrowed, kept
    if len(columns) < 2:
        return None
    means = {m: {c: scored[c][m] for c in columns if m in scored[c]} for m in shared}
    ranks: dict[str, dict[str, int]] = {m: {} for m in shared}
    for c in columns:
        order = sorted((m for m in shared if m in scored[c]), key=lambda m: -scored[c][m])
        for i, m in enumerate(order):
            ranks[m][c] = i + 1
    models = sorted(shared, key=lambda m: (sum(ranks[m].values()) / len(ranks[m]), m))
    overlap = {c: sum(len(set(means) & set(scored[c]) & set(scored[o])) for o in columns if o != c) for c in columns}
    reference = max(columns, key=lambda c: overlap[c])  # the first of equals: the report's order
    agreements = [Agreement(f"{reference} vs {c} (test)",
                            rank_agreement({m: scored[reference][m] for m in shared if m in scored[reference]},
                                           {m: scored[c][m] for m in shared if m in scored[c]}))
                  for c in columns if c != reference]
    return CrossSuite(columns, models, means, ranks, reference, [a for a in agreements if a.result.n >= 2])


def collect_published(published: Any, suites: Sequence[str] | None = None) -> list[SuiteReport]:
    """The leaderboards of a :class:`~separena.bench.published.PublishedStore` (of ``suites``
    where it has them), each named ``<suite> (published)``."""
    names = [s for s in published.suites() if not suites or s in suites]
    return [SuiteReport(f"{name} (published)", runs, leaderboard(runs), published=True)
            for name in names for runs in [published.runs(suite=name)]]


def all_reports(store: ResultStore | None, suites: Sequence[str] | None = None,
                published: Any = None) -> list[SuiteReport]:
    """The store's leaderboards (of those ``suites`` it has, or all), then the published ones."""
    own: list[SuiteReport] = []
    if store is not None:
        wanted = [s for s in suites if s in store.suites()] if suites else None
        own = collect(store, wanted) if wanted is None or wanted else []
    return own + (collect_published(published, suites) if published is not None else [])
