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

import csv
import dataclasses
import functools
import html
import json
import math
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SeparenaError
from ..specs import BRACKETS
from .leaderboard import (ByInput, Row, SourceScores, improvement_by_input, latest_runs, leaderboard,
                          pairwise_tests, per_mixture_scores, per_source_scores, records, source_groups, table_cells)
from .stats import PairTest, RankAgreement, rank_agreement
from .store import ResultStore, StoredRun

__all__ = ["write_report", "SuiteReport", "collect", "collect_published", "all_reports", "Agreement",
           "ranking_agreements", "CrossSuite", "across_suites"]


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
    written = [_write_markdown(out, reports, agreements, cross), _write_csv(out, reports),
               _write_json(out, reports, agreements, cross), _write_scores(out, reports)]
    plots = {r.name: _plots(out, r) for r in reports}
    audio = {r.name: _copy_audio(out, store.artifacts_dir, r) if store is not None and not r.published else {}
             for r in reports}  # published runs keep no audio
    heat_map = _cross_suite_plot(out, cross) if cross is not None else None
    written.append(_write_html(out, reports, plots, audio, agreements, cross, heat_map))
    return written


# -- text formats ------------------------------------------------------------------------
LEGEND = ("rank: range of ranks among the models on the test set, from pairwise Wilcoxon signed-rank tests on "
          "the same mixtures (Holm-corrected, 5 %); models that cannot be told apart share a range. SI-SDRi and "
          "SDRi: mean over the test mixtures (± the standard deviation over seeds, if several); 95 % interval: "
          "bootstrap over mixtures (and seeds). median: of the per-mixture SI-SDRi. MACs/s: inference MACs per "
          "second of audio; train MACs: training compute spent (3x the forward MACs per mixture seen); train s / "
          "eval s: wall clock of training and of evaluating every test set; RTF: inference seconds per audio "
          "second at batch 1; lookahead: how far ahead of an output sample the input it depends on reaches "
          "(measured; offline: to the end of the input; a streaming version waits at least this long); train MB: "
          "tensors saved for backward in one training step plus weights, gradients and Adam state (CUDA peak on a "
          "GPU).")


def _seed_line(rows: Sequence[Row]) -> str:
    return "seeds: " + "; ".join(f"{r.model} {', '.join(map(str, r.seeds))}" for r in rows if r.seeds)


CROSS_LEGEND = ("Mean SI-SDRi on each suite's test set (dB, seeds averaged) of the trained models two or more "
                "suites share, and in parentheses the model's rank in that suite among the models of this table "
                "(1 = best); models by mean rank. Suites differ in data, so compare ranks across columns and "
                "scores within one. Kendall's tau: each suite's ranking against that of the suite sharing the "
                "most models.")


def _write_markdown(out: Path, reports: list[SuiteReport], agreements: Sequence[Agreement],
                    cross: CrossSuite | None = None) -> Path:
    lines = ["# separena leaderboard", ""]
    for rep in reports:
        lines += [f"## {rep.name}", "", rep.summary, ""]
        header, cells = table_cells(rep.rows)
        lines.append("| " + " | ".join(header) + " |")
        lines.append("| " + " | ".join("---" if h in ("model", "kind", "note") else "---:" for h in header) + " |")
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in cells]
        lines += ["", LEGEND, "", _seed_line(rep.rows), ""]
        significant = [p for p in rep.pairs if p.significant]
        if rep.pairs:
            lines += [f"Significant differences on test: {len(significant)} of {len(rep.pairs)} pairs"
                      + (": " + "; ".join(f"{p.a} vs {p.b} {p.mean_difference:+.2f} dB (p {p.p_adjusted:.3g})"
                                          for p in significant) if significant else ""), ""]
        lines += _package_tables(rep) + _source_tables(rep) + _by_input_table(rep)
    if cross is not None:
        lines += ["## Across suites", "", "| model | " + " | ".join(c.replace("|", "\\|") for c in cross.suites) + " |",
                  "| --- |" + " ---: |" * len(cross.suites)]
        lines += ["| " + " | ".join(cells) + " |" for cells in cross.cells()]
        lines += ["", CROSS_LEGEND, ""] + [f"- {a.line()}" for a in cross.agreements] + [""]
    if agreements:
        lines += ["## Does the ranking hold?", ""] + [f"- {a.line()}" for a in agreements] + [""]
    path = out / "leaderboard.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _package_of(speaker: str) -> str | None:
    from ..data.real import REAL_PACKAGES, speaker_package
    from ..data.transfer import TRANSFER_PACKAGES

    return speaker_package(speaker, (*REAL_PACKAGES, *TRANSFER_PACKAGES))


def _package_tables(rep: SuiteReport) -> list[str]:
    """Markdown lines: SI-SDRi per source package of each real-speech test set of the suite
    (``real-dev``, ``transfer``), so that a mean over packages does not hide one that fails."""
    sets = sorted({k for r in rep.runs for k in r.payload["sets"] if k != "test"})
    lines: list[str] = []
    for set_name in sets:
        groups = source_groups(rep.runs, set_name, _package_of)
        packages = sorted({g for per_model in groups.values() for g in per_model})
        if not packages:
            continue
        counts = {g: max(per_model[g][1] for per_model in groups.values() if g in per_model) for g in packages}
        lines += [f"SI-SDRi (dB) on {set_name} per source package (each source under its speaker's package; "
                  "sources, seeds pooled):", "",
                  "| model | " + " | ".join(f"{g} ({counts[g]})" for g in packages) + " |",
                  "| --- | " + " | ".join("---:" for _ in packages) + " |"]
        for model, per_model in sorted(groups.items()):
            lines.append(f"| {model} | " + " | ".join(f"{per_model[g][0]:.2f}" if g in per_model else "-"
                                                      for g in packages) + " |")
        lines.append("")
    return lines


def _source_rows(rep: SuiteReport, scores: SourceScores) -> list[list[str]]:
    """Table cells of one set's per-source scores: a line per model (leaderboard order) and
    metric, the sources, then their mean."""
    lines = []
    for row in rep.rows:
        for key, title in scores.metrics.items():
            values = scores.means.get(row.model, {}).get(key)
            if values is None:
                continue
            finite = [v for v in values if math.isfinite(v)]
            mean = sum(finite) / len(finite) if len(finite) == len(values) else math.nan
            lines.append([row.model, title, *(f"{v:.2f}" if math.isfinite(v) else "-" for v in values),
                          f"{mean:.2f}" if math.isfinite(mean) else "-"])
    return lines


SOURCE_LEGEND = ("Each source's score averaged over the set's mixtures (seeds pooled); mean: of the sources. "
                 "uSDR: SDR over each whole test signal, as the Music Demixing Challenge 2021 scores a song; cSDR: "
                 "SiSEC 2018's SDR (museval v4), the median over 1-s frames.")


def _source_tables(rep: SuiteReport) -> list[str]:
    """Markdown lines: every metric per source role (music stems) on each test set."""
    lines: list[str] = []
    for scores in rep.per_source():
        lines += [f"Per source on {scores.set_name}:", "",
                  "| model | metric | " + " | ".join(scores.sources) + " | mean |",
                  "| --- | --- | " + " | ".join("---:" for _ in scores.sources) + " | ---: |"]
        lines += ["| " + " | ".join(cells) + " |" for cells in _source_rows(rep, scores)]
        lines += ["", SOURCE_LEGEND, ""]
    return lines


def _groups(found: ByInput) -> str:
    """``"5 groups of 80"`` or ``"5 groups of 1 to 2"``."""
    low, high = min(found.sizes), max(found.sizes)
    return f"{len(found.sizes)} groups of {low}" + (f" to {high}" if high != low else "")


def _by_input_table(rep: SuiteReport) -> list[str]:
    """Markdown lines: each model's SI-SDRi on test by the input SI-SDR of the source."""
    found = rep.by_input
    if found is None:
        return []
    lines = [f"SI-SDRi (dB) on test by the input SI-SDR of the source: the test sources in {_groups(found)}, each "
             "column headed by its group's median input SI-SDR:", "",
             "| model | " + " | ".join(f"{x:.2f} dB" for x in found.inputs) + " |",
             "| --- |" + " ---: |" * len(found.inputs)]
    lines += [f"| {model} | " + " | ".join(f"{v:.2f}" for v in means) + " |" for model, means in found.means.items()]
    return lines + [""]


def _write_csv(out: Path, reports: list[SuiteReport]) -> Path:
    recs = [rec for rep in reports for rec in records(rep.rows, rep.name)]
    fields: list[str] = []
    for rec in recs:
        fields += [k for k in rec if k not in fields]
    path = out / "leaderboard.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields or ["suite", "model"])
        writer.writeheader()
        writer.writerows(recs)
    return path


def _write_scores(out: Path, reports: list[SuiteReport]) -> Path:
    """``scores.csv``: every stored score of the runs behind the tables, one row per suite,
    run, test set, mixture and source (its role, or the reference it was matched to), a column
    per metric (NaN left empty): the numbers behind every mean, for statistics of one's own."""
    keys: list[str] = []
    rows = []
    for rep in reports:
        for run in latest_runs(rep.runs):  # the runs the tables stand on
            metrics = ["si_sdr", "si_sdri", *(k for k in run.payload.get("metrics", {}) if k != "si_sdri")]
            keys += [k for k in metrics if k not in keys]
            roles = run.payload.get("source_names")
            for set_name, scores in run.payload["sets"].items():
                tables = {k: scores[k] for k in metrics if isinstance(scores.get(k), list)}
                for i, name in enumerate(scores.get("names", [])):
                    for k in range(len(tables["si_sdri"][i])):
                        rows.append({"suite": rep.name, "model": run.model, "seed": run.seed,
                                     "run": run.run_hash[:16], "set": set_name, "mixture": i, "name": name,
                                     "source": roles[k] if roles else k + 1,
                                     **{m: _csv_number(table[i][k]) for m, table in tables.items()}})
    path = out / "scores.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["suite", "model", "seed", "run", "set", "mixture", "name", "source",
                                               *keys])
        writer.writeheader()
        writer.writerows(rows)
    return path


def _csv_number(value: float | None) -> float | str:
    return "" if value is None or not math.isfinite(value) else value


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None  # JSON has no NaN


def _agreement_record(a: Agreement) -> dict[str, Any]:
    return {"what": a.what, "tau": _finite(a.result.tau), "p_value": _finite(a.result.p_value), "n": a.result.n,
            "swapped": [list(p) for p in a.result.swapped]}


def _by_input_record(found: ByInput | None) -> dict[str, Any] | None:
    if found is None:
        return None
    means = {m: [_finite(v) for v in values] for m, values in found.means.items()}
    return {**dataclasses.asdict(found), "set": "test", "means": means}


def _write_json(out: Path, reports: list[SuiteReport], agreements: Sequence[Agreement],
                cross: CrossSuite | None = None) -> Path:
    doc = {"suites": {rep.name: {"summary": rep.summary, "rows": records(rep.rows, rep.name),
                                 "per_source": {sc.set_name: {"sources": list(sc.sources), "metrics": sc.metrics,
                                                              "means": {m: {k: [_finite(v) for v in vals]
                                                                            for k, vals in by_metric.items()}
                                                                        for m, by_metric in sc.means.items()}}
                                                for sc in rep.per_source()},
                                 "pairs": [{**dataclasses.asdict(p), "mean_difference": _finite(p.mean_difference),
                                            "p_value": _finite(p.p_value), "p_adjusted": _finite(p.p_adjusted)}
                                           for p in rep.pairs],
                                 "by_input": _by_input_record(rep.by_input)}
                      for rep in reports},
           "agreements": [_agreement_record(a) for a in agreements],
           "across_suites": None if cross is None else {
               "suites": cross.suites, "reference": cross.reference,
               "models": {m: {c: {"si_sdri_mean": cross.means[m][c], "rank": cross.ranks[m][c]} for c in cross.means[m]}
                          for m in cross.models},
               "agreements": [_agreement_record(a) for a in cross.agreements]}}
    path = out / "leaderboard.json"
    path.write_text(json.dumps(doc, indent=2, allow_nan=False), encoding="utf-8")
    return path


# -- plots -------------------------------------------------------------------------------
def _plots(out: Path, rep: SuiteReport) -> list[tuple[str, str]]:
    """PNG plots of one suite; returns ``(relative path, caption)`` pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = out / "plots"
    folder.mkdir(exist_ok=True)
    made = []
    models = [r for r in rep.rows if r.kind == "model" and "test" in r.quality]
    brackets = [r for r in rep.rows if r.kind in BRACKETS and "test" in r.quality]
    for attr, label, slug in (("macs_per_second", "MACs per second of audio", "macs"),
                              ("params", "parameters", "params")):
        fig, ax = plt.subplots(figsize=(6, 4))
        for row in models:
            x, q = getattr(row, attr), row.quality["test"]
            if x and not math.isnan(x) and x > 0:
                low, high = q.get("si_sdri_low", math.nan), q.get("si_sdri_high", math.nan)
                err = [[q["si_sdri_mean"] - low], [high - q["si_sdri_mean"]]] if not math.isnan(low) else None
                ax.errorbar([x], [q["si_sdri_mean"]], yerr=err, fmt="o", capsize=3)
                ax.annotate(row.model, (x, q["si_sdri_mean"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
        for row in brackets:
            ax.axhline(row.quality["test"]["si_sdri_mean"], linestyle="--", linewidth=0.8, color="grey")
            ax.text(1.0, row.quality["test"]["si_sdri_mean"], f" {row.model}", transform=ax.get_yaxis_transform(),
                    fontsize=7, va="center", color="grey")
        if any(getattr(r, attr) and getattr(r, attr) > 0 for r in models):
            ax.set_xscale("log")
        made.append(_finish(fig, ax, out / f"plots/{rep.slug}-quality-vs-{slug}.png", f"{rep.name}: quality vs {label}",
                            label, "SI-SDRi on test (dB)", f"SI-SDRi vs {label}", legend=False))
    fig, ax = plt.subplots(figsize=(6, 4))
    for run in sorted(latest_runs(rep.runs), key=lambda r: (r.model, r.seed)):
        t = run.payload["train"]
        if t["losses"]:
            ax.plot(t["loss_steps"], t["losses"], linewidth=0.8, label=f"{run.model} (seed {run.seed})")
    made.append(_finish(fig, ax, out / f"plots/{rep.slug}-losses.png", f"{rep.name}: training loss", "step",
                        "training loss", "training loss per step"))
    timed = [r for r in models if not math.isnan(r.lookahead)]
    if any(math.isfinite(r.lookahead) for r in timed):  # some model could stream: quality vs latency
        made.append(_lookahead_plot(out, rep, timed, brackets))
    for scores in rep.per_source()[:1]:  # test: each source's SI-SDRi, a bar per model and oracle
        shown = [r for r in models + brackets if r.kind != "baseline" and r.model in scores.means]
        fig, ax = plt.subplots(figsize=(6, 4))
        width = 0.8 / max(len(shown), 1)
        for i, row in enumerate(shown):
            ax.bar([k + (i - (len(shown) - 1) / 2) * width for k in range(len(scores.sources))],
                   scores.means[row.model]["si_sdri"], width, label=row.model,
                   hatch="//" if row.kind in BRACKETS else None, alpha=0.6 if row.kind in BRACKETS else 1.0)
        ax.set_xticks(range(len(scores.sources)), scores.sources)
        made.append(_finish(fig, ax, out / f"plots/{rep.slug}-per-source.png", f"{rep.name}: SI-SDRi per source",
                            "source", f"SI-SDRi on {scores.set_name} (dB)", "SI-SDRi per source"))
    made.extend(_difficulty_plots(out, rep, [r for r in models + brackets if r.kind != "baseline"]))
    curves = _curves(rep)
    for key, label in (("macs", "training compute (MACs)"), ("examples", "training mixtures seen")):
        fig, ax = plt.subplots(figsize=(6, 4))
        for model, points in curves.items():
            xs = [p[key] for p in points]
            if all(x and x > 0 and math.isfinite(x) for x in xs):
                ax.plot(xs, [p["si_sdri"] for p in points], marker="o", linewidth=1, markersize=3, label=model)
        if ax.get_legend_handles_labels()[0]:
            ax.set_xscale("log")
        made.append(_finish(fig, ax, out / f"plots/{rep.slug}-curve-{key}.png", f"{rep.name}: learning curves",
                            label, f"SI-SDRi on {CURVE_SET} subset (dB)", f"learning curves: SI-SDRi vs {label}"))
    return made


def _difficulty_plots(out: Path, rep: SuiteReport, rows: Sequence[Row]) -> list[tuple[str, str]]:
    """Beyond the means: each model's SI-SDRi per test mixture as a box (seeds averaged per
    mixture), and its SI-SDRi against how hard each source was to hear (its input SI-SDR)."""
    import matplotlib.pyplot as plt
    import numpy as np

    scores = per_mixture_scores(rep.runs, "test")
    rows = [r for r in rows if r.model in scores]
    if not rows:
        return []
    per_mixture = [scores[r.model][1].mean(axis=0) for r in rows]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(rows) + 2), 4.5))
    ax.boxplot([v[np.isfinite(v)] for v in per_mixture], showmeans=True)
    ax.set_xticks(range(1, len(rows) + 1), [r.model for r in rows], rotation=30, ha="right", fontsize=8)
    made = [_finish(fig, ax, out / f"plots/{rep.slug}-per-mixture.png", f"{rep.name}: SI-SDRi per test mixture", "",
                    "SI-SDRi on test (dB)", "SI-SDRi per test mixture (box: quartiles; whiskers: 1.5 IQR; "
                    "triangle: mean)", legend=False)]
    by_input = rep.by_input
    if by_input is not None:
        fig, ax = plt.subplots(figsize=(6, 4))
        for row in (r for r in rows if r.model in by_input.means):  # runs without si_sdr give no input levels
            ax.plot(by_input.inputs, by_input.means[row.model], "--" if row.kind in BRACKETS else "-", marker="o",
                    markersize=3, linewidth=1, label=row.model)
        made.append(_finish(fig, ax, out / f"plots/{rep.slug}-by-input.png", f"{rep.name}: SI-SDRi by input SI-SDR",
                            "input SI-SDR of the source (dB, median of each group)", "SI-SDRi on test (dB)",
                            f"SI-SDRi against how hard each source was to hear: the test sources in "
                            f"{_groups(by_input)} by the mixture's SI-SDR against them"))
    return made


def _cross_suite_plot(out: Path, cross: CrossSuite) -> tuple[str, str]:
    """The cross-suite table as a heat map: colour the model's rank in the suite, text its score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    (out / "plots").mkdir(exist_ok=True)
    ranks = np.array([[cross.ranks[m].get(c, np.nan) for c in cross.suites] for m in cross.models], dtype=float)
    fig, ax = plt.subplots(figsize=(1.4 * len(cross.suites) + 3, 0.45 * len(cross.models) + 2))
    image = ax.imshow(np.ma.masked_invalid(ranks), cmap="viridis_r", aspect="auto")
    for i, m in enumerate(cross.models):
        for j, c in enumerate(cross.suites):
            if c in cross.means[m]:
                ax.text(j, i, f"{cross.means[m][c]:.2f}\n({cross.ranks[m][c]})", ha="center", va="center",
                        fontsize=7, color="black" if ranks[i, j] <= np.nanmax(ranks) / 2 else "white")
    ax.set_xticks(range(len(cross.suites)), cross.suites, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(cross.models)), cross.models, fontsize=8)
    fig.colorbar(image, ax=ax, label="rank in the suite (1 = best)", ticks=range(1, int(np.nanmax(ranks)) + 1))
    path = out / "plots/across-suites.png"
    ax.set_title("SI-SDRi on test (dB) and rank, across suites")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return f"{path.parent.name}/{path.name}", "each model's SI-SDRi and rank in every suite"


def _lookahead_plot(out: Path, rep: SuiteReport, models: Sequence[Row], brackets: Sequence[Row]) -> tuple[str, str]:
    """SI-SDRi on test against each model's measured lookahead; offline models (the whole input)
    at a column of their own on the right."""
    import matplotlib.pyplot as plt

    finite = [1000 * r.lookahead for r in models if math.isfinite(r.lookahead)]
    low, high = max(min(finite), 0.1) / 2, max(finite) * 2  # a log axis: a zero lookahead sits at its floor
    offline_x = high * 4
    fig, ax = plt.subplots(figsize=(6, 4))
    for row in models:
        q = row.quality["test"]
        x = offline_x if math.isinf(row.lookahead) else max(1000 * row.lookahead, low)
        lo, hi = q.get("si_sdri_low", math.nan), q.get("si_sdri_high", math.nan)
        err = [[q["si_sdri_mean"] - lo], [hi - q["si_sdri_mean"]]] if not math.isnan(lo) else None
        ax.errorbar([x], [q["si_sdri_mean"]], yerr=err, fmt="s" if math.isinf(row.lookahead) else "o", capsize=3)
        ax.annotate(row.model, (x, q["si_sdri_mean"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    for row in brackets:
        ax.axhline(row.quality["test"]["si_sdri_mean"], linestyle="--", linewidth=0.8, color="grey")
        ax.text(1.0, row.quality["test"]["si_sdri_mean"], f" {row.model}", transform=ax.get_yaxis_transform(),
                fontsize=7, va="center", color="grey")
    ax.set_xscale("log")
    ax.axvline(high * 2, color="grey", linewidth=0.5)
    ticks = [t for t in (0.1, 1, 10, 100, 1000) if low <= t <= high * 2]
    ax.set_xticks([*ticks, offline_x], [*(f"{t:g}" for t in ticks), "offline"])
    ax.set_xlim(low / 1.5, offline_x * 3)
    return _finish(fig, ax, out / f"plots/{rep.slug}-quality-vs-lookahead.png", f"{rep.name}: quality vs lookahead",
                   "lookahead (ms; offline: the whole input)", "SI-SDRi on test (dB)", "SI-SDRi vs lookahead",
                   legend=False)


def _finish(fig: Any, ax: Any, path: Path, title: str, xlabel: str, ylabel: str, caption: str,
            legend: bool = True) -> tuple[str, str]:
    """Label, save and close a plot; returns ``(path relative to the report, caption)``."""
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return f"{path.parent.name}/{path.name}", caption


CURVE_SET = "validation"  # the learning curves score a fixed subset of the data's valid split


def _curves(rep: SuiteReport) -> dict[str, list[dict[str, float]]]:
    """Each trained model's learning curve, its seeds averaged point by point."""
    by_model: dict[str, list[list[dict[str, float]]]] = {}
    for run in sorted(latest_runs(rep.runs), key=lambda r: (r.model, r.seed)):
        curve = run.payload["train"].get("curve") or []
        if curve:
            by_model.setdefault(run.model, []).append(curve)
    out = {}
    for model, curves in by_model.items():
        n = min(len(c) for c in curves)
        out[model] = [{k: sum(c[i][k] for c in curves) / len(curves) for k in ("macs", "examples", "si_sdri")}
                      for i in range(n)]
    return out


# -- audio -------------------------------------------------------------------------------
def _spectrogram(wav_path: Path, png_path: Path) -> None:
    """A small log-magnitude spectrogram image of a wav file (written once)."""
    if png_path.exists():
        return
    import matplotlib.pyplot as plt
    import numpy as np
    import soundfile

    audio, rate = soundfile.read(str(wav_path), dtype="float32", always_2d=True)
    fig, ax = plt.subplots(figsize=(2.4, 1.1))
    with np.errstate(divide="ignore"):  # digital silence: -inf dB, drawn as the floor colour
        ax.specgram(audio.mean(1), NFFT=256, noverlap=192, Fs=rate, cmap="magma", vmin=-140, vmax=-20,
                    scale="dB", mode="psd")
    ax.set_axis_off()
    fig.subplots_adjust(0, 0, 1, 1)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path, dpi=80)
    plt.close(fig)


def _copy_audio(out: Path, artifacts: Path, rep: SuiteReport) -> dict[str, list[dict[str, Any]]]:
    """Copy each model's saved examples (first seed's run) into the report, each with a spectrogram
    image (``<wav>.png``); model -> examples."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    for run in sorted(latest_runs(rep.runs), key=lambda r: r.seed):
        if run.model in by_model:
            continue
        examples = run.payload.get("examples", {}).get("test", [])
        kept = []
        for ex in examples:
            paths = [ex["mix"], *ex["references"], *ex["estimates"]]
            if not all((artifacts / p).is_file() for p in paths):
                continue  # artifacts folder moved or pruned: leave the players out
            for p in paths:
                target = out / p
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(artifacts / p, target)
                _spectrogram(target, out / f"{p}.png")
            kept.append(ex)
        by_model[run.model] = kept
    return by_model


# -- html --------------------------------------------------------------------------------
_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1300px}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
td:first-child,th:first-child{text-align:left}tr.oracle,tr.baseline{color:#666;background:#f6f6f6}
tr.failed{color:#b00}.plots img{max-width:32%;margin-right:1%}audio{height:28px;width:220px}
.example td{text-align:left;vertical-align:top}.player{display:inline-flex;align-items:center;gap:4px}
img.spec{height:56px;width:122px}td.win{background:#dfd}td.loss{background:#fdd}td.tie{color:#666}"""


def _pair_matrix(rep: SuiteReport) -> str:
    """An HTML table: row model's win rate against the column model on the test mixtures, and
    whether the difference is significant (Holm-corrected Wilcoxon signed-rank)."""
    e = html.escape
    models = [r.model for r in rep.rows if r.kind == "model" and "test" in r.quality]
    lookup: dict[tuple[str, str], tuple[float, float, bool, float]] = {}
    for p in rep.pairs:
        lookup[(p.a, p.b)] = (p.win_rate, p.mean_difference, p.significant, p.p_adjusted)
        lookup[(p.b, p.a)] = (1 - p.win_rate, -p.mean_difference, p.significant, p.p_adjusted)
    if len(models) < 2:
        return ""
    parts = ["<h3>Pairwise comparison on test</h3>",
             "<p>Cell: how often the row model beats the column model on the same test mixture, the mean "
             "difference in dB, and <b>*</b> where the difference is significant (Wilcoxon signed-rank, "
             "Holm-corrected, 5 %).</p>",
             "<table class=\"pairs\"><thead><tr><th>row vs column</th>"
             + "".join(f"<th>{e(m)}</th>" for m in models) + "</tr></thead><tbody>"]
    for a in models:
        cells = []
        for b in models:
            if a == b or (a, b) not in lookup:
                cells.append("<td>-</td>")
                continue
            win, diff, significant, p_adj = lookup[(a, b)]
            cls = ("win" if diff > 0 else "loss") if significant else "tie"
            cells.append(f"<td class=\"{cls}\" title=\"p (Holm) = {p_adj:.3g}\">{100 * win:.0f}% "
                         f"{diff:+.2f}{' *' if significant else ''}</td>")
        parts.append(f"<tr><td>{e(a)}</td>{''.join(cells)}</tr>")
    parts.append("</tbody></table>")
    return "\n".join(parts)


def _write_html(out: Path, reports: list[SuiteReport], plots: dict[str, list[tuple[str, str]]],
                audio: dict[str, dict[str, list[dict[str, Any]]]], agreements: Sequence[Agreement],
                cross: CrossSuite | None = None, heat_map: tuple[str, str] | None = None) -> Path:
    e = html.escape
    parts = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
             "<title>separena leaderboard</title>", f"<style>{_CSS}</style></head><body>",
             "<h1>separena leaderboard</h1>"]
    for rep in reports:
        parts += [f"<h2 id=\"{e(rep.name)}\">{e(rep.name)}</h2>", f"<p>{e(rep.summary)}</p>"]
        header, cells = table_cells(rep.rows)
        parts.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr></thead><tbody>")
        for row, line in zip(rep.rows, cells):
            parts.append(f"<tr class=\"{row.kind}\">" + "".join(f"<td>{e(c)}</td>" for c in line) + "</tr>")
        parts.append("</tbody></table>")
        parts.append(f"<p><small>{e(LEGEND)}<br>{e(_seed_line(rep.rows))}</small></p>")
        parts.append(_pair_matrix(rep))
        for scores in rep.per_source():
            parts.append(f"<h3>Per source on {e(scores.set_name)}</h3><table><thead><tr><th>model</th><th>metric</th>"
                         + "".join(f"<th>{e(name)}</th>" for name in scores.sources) + "<th>mean</th></tr></thead><tbody>")
            parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>" for cells in _source_rows(rep, scores)]
            parts.append(f"</tbody></table><p><small>{e(SOURCE_LEGEND)}</small></p>")
        parts.append("<div class=\"plots\">")
        for rel, caption in plots.get(rep.name, []):
            # data-loaded / data-failed make a broken image visible to a headless check
            parts.append(f"<img src=\"{e(rel)}\" alt=\"{e(caption)}\" title=\"{e(caption)}\" "
                         "onload=\"this.dataset.loaded=this.naturalWidth\" onerror=\"this.dataset.failed=1\">")
        parts.append("</div>")
        examples = audio.get(rep.name, {})
        if any(examples.values()):
            parts.append("<h3>Separated test examples</h3><table class=\"example\"><thead><tr><th>model</th>"
                         "<th>mixture</th><th>estimates</th><th>references</th></tr></thead><tbody>")
            for row in rep.rows:
                for ex in examples.get(row.model, []):
                    parts.append(f"<tr><td>{e(row.model)}<br><small>{e(ex['name'])}</small></td>"
                                 f"<td>{_players([ex['mix']])}</td><td>{_players(ex['estimates'])}</td>"
                                 f"<td>{_players(ex['references'])}</td></tr>")
            parts.append("</tbody></table>")
    if cross is not None:
        parts.append("<h2 id=\"across-suites\">Across suites</h2><table><thead><tr><th>model</th>"
                     + "".join(f"<th>{e(c)}</th>" for c in cross.suites) + "</tr></thead><tbody>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>" for cells in cross.cells()]
        parts.append(f"</tbody></table><p><small>{e(CROSS_LEGEND)}</small></p><ul>")
        parts += [f"<li>{e(a.line())}</li>" for a in cross.agreements]
        parts.append("</ul>")
        if heat_map is not None:
            rel, caption = heat_map
            parts.append(f"<div class=\"plots\"><img src=\"{e(rel)}\" alt=\"{e(caption)}\" title=\"{e(caption)}\" "
                         "onload=\"this.dataset.loaded=this.naturalWidth\" onerror=\"this.dataset.failed=1\"></div>")
    if agreements:
        parts.append("<h2>Does the ranking hold?</h2><ul>")
        parts += [f"<li>{e(a.line())}</li>" for a in agreements]
        parts.append("</ul>")
    parts.append("</body></html>")
    path = out / "index.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _players(paths: Sequence[str]) -> str:
    """An audio player per wav with its spectrogram image (``<wav>.png``) beside it."""
    return "<br>".join(f"<span class=\"player\"><img class=\"spec\" src=\"{html.escape(p)}.png\" "
                       f"alt=\"spectrogram of {html.escape(p)}\" onload=\"this.dataset.loaded=this.naturalWidth\" "
                       f"onerror=\"this.dataset.failed=1\"><audio controls preload=\"none\" "
                       f"src=\"{html.escape(p)}\"></audio></span>" for p in paths)
