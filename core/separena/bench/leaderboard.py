"""The leaderboard: stored runs aggregated into one row per model, with how sure each number is.

Quality on each test set is the SI-SDRi (and BSS Eval SDRi) mean and median over the
mixtures, averaged over seeds, with a 95 % bootstrap interval (over mixtures, and over seeds
and mixtures where a model has several seeds) and the spread over seeds. Models are compared
pairwise on the same test mixtures (Wilcoxon signed-rank, Holm-corrected), and each gets a rank
range: models that cannot be told apart share one (``1-3``). Cost columns are averaged over
seeds. Oracle rows always open the table and the unprocessed mixture closes it, so every model
sits between "perfect masks" and "did nothing"; models that only failed are listed last.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..specs import BRACKETS
from .stats import PairTest, bootstrap_interval, compare_pairs, rank_ranges
from .store import StoredFailure, StoredRun

__all__ = ["Row", "leaderboard", "latest_runs", "records", "rich_table", "format_value",
           "format_lookahead", "per_mixture_scores", "improvement_by_input", "ByInput", "pairwise_tests",
           "table_cells", "source_groups", "SourceScores", "per_source_scores", "SLOW_NOTE_FRACTION"]

SLOW_NOTE_FRACTION = 0.1  # a row is flagged when this share of its training ran slowed by contention


@dataclass
class Row:
    """One model's line in the leaderboard."""

    model: str
    family: str
    kind: str  # "oracle" | "model" | "baseline" | "failed"
    seeds: list[int] = field(default_factory=list)  # seeds with a finished run
    quality: dict[str, dict[str, float]] = field(default_factory=dict)  # test set -> metric -> value
    rank: tuple[int, int] | None = None  # rank range on the test set among the models (1 = best)
    params: float = math.nan
    macs_per_second: float = math.nan  # inference MACs per second of audio
    train_macs: float = math.nan  # training compute spent (MACs)
    train_examples: float = math.nan  # training mixtures seen
    steps_per_second: float = math.nan
    audio_seconds_per_second: float = math.nan
    train_steps: float = math.nan
    train_seconds: float = math.nan  # wall clock of training
    eval_seconds: float = math.nan  # wall clock of evaluating every test set
    rtf: float = math.nan  # inference seconds per audio second, batch 1
    lookahead: float = math.nan  # seconds of input ahead an output needs; inf: offline; nan: not measured
    train_memory_mb: float = math.nan  # saved activations of a step + weights, gradients, Adam state
    peak_cuda_mb: float | None = None
    clock_budget: bool = False  # some run was stopped by the clock (its steps depend on the machine)
    slow_fraction: float = 0.0  # share of training time slowed by another process
    errors: list[str] = field(default_factory=list)  # one line per failed seed
    run_hashes: list[str] = field(default_factory=list)
    metrics: dict[str, str] = field(default_factory=dict)  # payload key -> column title of each suite metric shown


def metric_columns(runs: Sequence[StoredRun]) -> dict[str, str]:
    """The suite metrics the runs scored besides SI-SDRi, as payload key -> column title
    (``"stoi_i" -> "STOIi"``, ``"sdri" -> "SDRi (dB)"``), in the order the suites list them."""
    out: dict[str, str] = {}
    for run in runs:
        described = run.payload.get("metrics")
        if described is None and any("sdri" in s for s in run.payload.get("sets", {}).values()):
            described = {"sdri": {"label": "SDRi", "unit": "dB"}}  # runs stored before metrics were plugins
        for key, info in (described or {}).items():
            if key != "si_sdri":
                out.setdefault(key, f"{info['label']} ({info['unit']})" if info.get("unit") else info["label"])
    return out


def latest_runs(runs: Sequence[StoredRun]) -> list[StoredRun]:
    """The most recently finished run per (model, seed) (older code versions drop out)."""
    latest: dict[tuple[str, int], StoredRun] = {}
    for run in runs:
        key = (run.model, run.seed)
        if key not in latest or run.finished_at >= latest[key].finished_at:
            latest[key] = run
    return list(latest.values())


def _kind(family: str) -> str:
    return family if family in BRACKETS else "model"


def _mean(values: Sequence[float | None]) -> float:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _std(values: Sequence[float]) -> float:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.stdev(finite) if len(finite) > 1 else math.nan


def per_mixture_scores(runs: Sequence[StoredRun], set_name: str = "test",
                       metric: str = "si_sdri") -> dict[str, tuple[list[str], np.ndarray]]:
    """Per model: the mixture names and its scores ``[seeds, mixtures]`` (sources averaged).

    Only mixtures that every seed of the model scored are kept, in the first run's order.
    """
    by_model: dict[str, list[StoredRun]] = {}
    for run in sorted(latest_runs(runs), key=lambda r: r.seed):
        if metric in run.payload["sets"].get(set_name, {}):
            by_model.setdefault(run.model, []).append(run)
    out = {}
    for model, model_runs in by_model.items():
        tables = []
        for run in model_runs:
            s = run.payload["sets"][set_name]
            table = np.asarray(s[metric], dtype=float).reshape(len(s["names"]), -1)
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a mixture whose every source is NaN stays NaN
                values = np.nanmean(table, axis=1)
            tables.append(dict(zip(s["names"], values)))
        names = [n for n in tables[0] if all(n in t for t in tables)]
        out[model] = (names, np.array([[t[n] for n in names] for t in tables]).reshape(len(tables), len(names)))
    return out


@dataclass(frozen=True)
class ByInput:
    """SI-SDRi against how hard the task was: every source of every mixture that all models
    scored, split into groups of (nearly) equal size by its input SI-SDR (the unprocessed
    mixture's SI-SDR against that source)."""

    edges: list[float]  # input SI-SDR (dB) bounding the groups: len(groups) + 1 values
    inputs: list[float]  # each group's median input SI-SDR (dB)
    sizes: list[int]  # sources per group
    means: dict[str, list[float]]  # model -> its mean SI-SDRi per group (seeds averaged per source first)


def improvement_by_input(runs: Sequence[StoredRun], set_name: str = "test", models: Sequence[str] | None = None,
                         groups: int = 5) -> ByInput | None:
    """Each model's SI-SDRi per group of sources of similar input SI-SDR (``None`` without two
    sources that every model scored). A run's scores are in the order of the references, and a
    source's input SI-SDR is its SI-SDR less its SI-SDRi (the same for every model)."""
    inputs: dict[tuple[str, int], float] = {}
    scored: dict[str, dict[tuple[str, int], list[float]]] = {}
    for run in latest_runs(runs):
        s = run.payload["sets"].get(set_name, {})
        if "si_sdr" not in s or "si_sdri" not in s or (models is not None and run.model not in models):
            continue
        for name, sdr_row, sdri_row in zip(s["names"], s["si_sdr"], s["si_sdri"]):
            for j, (sdr, sdri) in enumerate(zip(sdr_row, sdri_row)):
                if sdr is not None and sdri is not None and math.isfinite(sdr) and math.isfinite(sdri):
                    inputs.setdefault((name, j), sdr - sdri)
                    scored.setdefault(run.model, {}).setdefault((name, j), []).append(sdri)
    names = [m for m in (models if models is not None else scored) if m in scored]
    if not names:
        return None
    keys = sorted(set.intersection(*(set(scored[m]) for m in names)), key=lambda k: (inputs[k], k))
    if len(keys) < 2:
        return None
    parts = [list(p) for p in np.array_split(np.arange(len(keys)), min(groups, len(keys)))]
    level = np.array([inputs[k] for k in keys])
    means = {m: [float(np.mean([np.mean(scored[m][keys[i]]) for i in p])) for p in parts] for m in names}
    return ByInput(edges=[float(level[parts[0][0]])] + [float(level[p[-1]]) for p in parts],
                   inputs=[float(np.median(level[p])) for p in parts], sizes=[len(p) for p in parts], means=means)


def source_groups(runs: Sequence[StoredRun], set_name: str, group_of: Callable[[str], str | None]
                  ) -> dict[str, dict[str, tuple[float, int]]]:
    """Per model: ``{group: (mean SI-SDRi, sources)}`` of one set, each source scored under the
    group of its speaker. Mixture names of real speech read ``<index>__<speaker>__<speaker>``;
    ``group_of`` maps a speaker to its group (e.g. its Debian package), ``None`` to leave it
    out. Seeds are pooled. Models whose set names no speakers get no entry."""
    out: dict[str, dict[str, list[float]]] = {}
    for run in sorted(latest_runs(runs), key=lambda r: (r.model, r.seed)):
        s = run.payload["sets"].get(set_name)
        if not s or "si_sdri" not in s:
            continue
        for name, scores in zip(s["names"], s["si_sdri"]):
            speakers = name.split("__")[1:]
            if len(speakers) != len(scores):
                continue
            for speaker, score in zip(speakers, scores):
                group = group_of(speaker)
                if group is not None and score is not None and math.isfinite(score):
                    out.setdefault(run.model, {}).setdefault(group, []).append(float(score))
    return {m: {g: (sum(v) / len(v), len(v)) for g, v in sorted(groups.items())} for m, groups in out.items()}


@dataclass(frozen=True)
class SourceScores:
    """Each model's mean score per source role on one set (music stems: vocals, bass, ...)."""

    set_name: str
    sources: tuple[str, ...]  # the roles, in the data's order
    metrics: dict[str, str]  # payload key -> column title, SI-SDRi first
    means: dict[str, dict[str, list[float]]]  # model -> metric key -> mean per source (NaN: none scored)


def per_source_scores(runs: Sequence[StoredRun], set_name: str = "test") -> SourceScores | None:
    """Every metric of one set averaged per source role over mixtures (seeds pooled), for runs on
    data whose sources have roles (their payload names them: ``source_names``); ``None`` when no
    run has roles (speakers are matched per mixture, so their positions mean nothing)."""
    kept = [r for r in sorted(latest_runs(runs), key=lambda r: (r.model, r.seed))
            if r.payload.get("source_names") and set_name in r.payload["sets"]]
    if not kept:
        return None
    sources = tuple(kept[0].payload["source_names"])
    kept = [r for r in kept if tuple(r.payload["source_names"]) == sources]
    metrics = {"si_sdri": "SI-SDRi (dB)", **metric_columns(kept)}
    tables: dict[str, dict[str, list[list[float]]]] = {}
    for run in kept:
        s = run.payload["sets"][set_name]
        for key in metrics:
            if key in s:
                tables.setdefault(run.model, {}).setdefault(key, []).extend(
                    [math.nan if v is None else v for v in row] for row in s[key])
    means = {}
    for model, by_metric in tables.items():
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a source no mixture scored stays NaN
            means[model] = {k: np.nanmean(np.asarray(v, dtype=float).reshape(-1, len(sources)), axis=0).tolist()
                            for k, v in by_metric.items()}
    return SourceScores(set_name, sources, metrics, means)


def pairwise_tests(runs: Sequence[StoredRun], set_name: str = "test", models: Sequence[str] | None = None,
                   alpha: float = 0.05) -> list[PairTest]:
    """Every pair of ``models`` (default: every trained or classic model) compared on the mixtures
    all of them scored, each model's seeds averaged per mixture first."""
    scores = per_mixture_scores(runs, set_name)
    families = {r.model: r.payload["config"]["family"] for r in runs}
    names = [m for m in (models if models is not None else scores) if m in scores
             and (models is not None or _kind(families.get(m, "")) == "model")]
    if len(names) < 2:
        return []
    shared = set(scores[names[0]][0]).intersection(*(scores[m][0] for m in names[1:]))
    aligned = {}
    for m in names:
        mixtures, table = scores[m]
        keep = [i for i, n in enumerate(mixtures) if n in shared]
        order = sorted(keep, key=lambda i: mixtures[i])
        aligned[m] = table[:, order].mean(0)
    return compare_pairs(aligned, alpha=alpha)


def leaderboard(runs: Sequence[StoredRun], failures: Sequence[StoredFailure] = ()) -> list[Row]:
    """Rows in display order: oracles (best first), models (best first), baselines, failed-only models."""
    rows: dict[str, Row] = {}
    for run in sorted(latest_runs(runs), key=lambda r: r.seed):
        cfg = run.payload["config"]
        row = rows.setdefault(run.model, Row(run.model, cfg["family"], _kind(cfg["family"])))
        row.seeds.append(run.seed)
        row.run_hashes.append(run.run_hash)
    by_model: dict[str, list[StoredRun]] = {}
    for run in latest_runs(runs):
        by_model.setdefault(run.model, []).append(run)
    set_names = sorted({s for r in runs for s in r.payload["sets"]}, key=lambda s: (s != "test", s))
    columns = metric_columns(runs)
    for set_name in set_names:
        si = per_mixture_scores(runs, set_name)
        extra = {key: per_mixture_scores(runs, set_name, key) for key in columns}
        for model, model_runs in by_model.items():
            per = [r.payload["sets"][set_name] for r in model_runs if set_name in r.payload["sets"]]
            if not per or model not in si:
                continue
            ci = _interval(si[model][1])
            means = [s["si_sdri_mean"] for s in per]
            quality = rows[model].quality[set_name] = {
                "si_sdri_mean": _mean(means), "si_sdri_low": ci[0], "si_sdri_high": ci[1],
                "si_sdri_std": _std(means), "si_sdri_median": _mean([s["si_sdri_median"] for s in per]),
                "mixtures": per[0]["n"],
            }
            for key, scores in extra.items():
                if model in scores:
                    seed_means = [_mean(list(seed)) for seed in scores[model][1]]
                    low, high = _interval(scores[model][1])
                    quality.update({f"{key}_mean": _mean(seed_means), f"{key}_low": low, f"{key}_high": high,
                                    f"{key}_std": _std(seed_means)})
                    rows[model].metrics[key] = columns[key]
    for model, model_runs in by_model.items():
        row = rows[model]
        costs = [r.payload["cost"] for r in model_runs]
        row.params = _mean([c["params"] for c in costs])
        row.macs_per_second = _mean([c["macs_per_second"] for c in costs])
        row.rtf = _mean([c["rtf"] for c in costs])
        if all("lookahead_seconds" in c for c in costs):  # runs from before it was measured have none
            row.lookahead = max(math.inf if c["lookahead_seconds"] is None else c["lookahead_seconds"] for c in costs)
        row.train_memory_mb = _mean([c.get("train_memory_mb") for c in costs])
        cuda = [c.get("peak_cuda_mb") for c in costs]
        row.peak_cuda_mb = _mean(cuda) if any(c is not None for c in cuda) else None
        trained = [r.payload["train"] for r in model_runs]
        row.train_steps = _mean([t["steps"] for t in trained])
        row.train_seconds = _mean([t["seconds"] for t in trained])
        row.eval_seconds = _mean([sum(v for k, v in r.payload["timing"].items() if k.startswith("evaluate_"))
                                  for r in model_runs])
        if any(t["steps"] for t in trained):
            row.train_examples = _mean([t.get("examples") for t in trained])
            row.train_macs = _mean([t.get("macs") for t in trained])
            row.steps_per_second = _mean([t["steps_per_second"] for t in trained])
            row.audio_seconds_per_second = _mean([t["audio_seconds_per_second"] for t in trained])
            row.clock_budget = any(t["stopped_by"] == "minutes" for t in trained)
            slow = sum(t.get("slow_seconds", 0.0) for t in trained)
            row.slow_fraction = slow / max(sum(t["seconds"] for t in trained), 1e-9)
    finished_at = {(r.model, r.seed): r.finished_at for r in latest_runs(runs)}
    for failure in failures:
        if finished_at.get((failure.model, failure.seed), -math.inf) > failure.failed_at:
            continue  # an older code version failed; a newer run of the same model and seed finished
        cfg = failure.payload.get("config", {})
        row = rows.setdefault(failure.model, Row(failure.model, cfg.get("family", "?"), "failed"))
        row.errors.append(f"seed {failure.seed}: {failure.error}")
    ranked = [r.model for r in rows.values() if r.kind == "model" and "test" in r.quality]
    means = {m: rows[m].quality["test"]["si_sdri_mean"] for m in ranked}
    for model, rank in rank_ranges(means, pairwise_tests(runs, "test", ranked)).items():
        rows[model].rank = rank

    def quality(row: Row) -> float:
        value = row.quality.get("test", {}).get("si_sdri_mean", math.nan)
        return -math.inf if math.isnan(value) else value

    order = {"oracle": 0, "model": 1, "baseline": 2, "failed": 3}
    return sorted(rows.values(), key=lambda r: (order[r.kind], -quality(r), r.model))


def _interval(scores: np.ndarray) -> tuple[float, float]:
    if scores.size == 0 or not np.isfinite(scores).all():
        return math.nan, math.nan
    ci = bootstrap_interval(scores if scores.shape[0] > 1 else scores[0])
    return ci.low, ci.high


# -- presentation ------------------------------------------------------------------------
def format_value(value: float | None, digits: int = 2, spread: float | None = None) -> str:
    """``3.14``, ``3.14 ± 0.20`` or ``-`` for missing values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = f"{value:.{digits}f}"
    if spread is not None and not math.isnan(spread):
        text += f" ± {spread:.{digits}f}"
    return text


def format_interval(low: float | None, high: float | None, digits: int = 2) -> str:
    """``[1.55, 2.07]`` or ``-``."""
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return "-"
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def format_rank(rank: tuple[int, int] | None) -> str:
    """``2`` or ``1-3`` (models that cannot be told apart share a range); ``-`` for brackets."""
    if rank is None:
        return "-"
    return str(rank[0]) if rank[0] == rank[1] else f"{rank[0]}-{rank[1]}"


def format_lookahead(seconds: float) -> str:
    """``"31.4 ms"``, ``"offline"`` (depends on the whole input) or ``"-"`` (not measured)."""
    if math.isnan(seconds):
        return "-"
    return "offline" if math.isinf(seconds) else f"{1000 * seconds:.1f} ms"


def _si(value: float | None, unit: str = "") -> str:
    if value is None or math.isnan(value):
        return "-"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.2f} {prefix}{unit}".rstrip()
    return f"{value:.0f} {unit}".rstrip()


QUALITY_COLUMNS = ("rank", "model", "kind", "seeds", "SI-SDRi (dB)", "95% interval", "median")
COST_COLUMNS = ("params", "MACs/s", "train MACs", "steps", "train s", "eval s", "RTF", "lookahead", "train MB")
# between the two: one column per other metric of the suite (SDRi, STOIi, ...); after them the
# other test sets' SI-SDRi, then the notes


def notes(row: Row) -> list[str]:
    """Flags a reader must see: a clock budget, training slowed by contention, errors."""
    out = []
    if row.clock_budget:
        out.append("clock budget: steps depend on the machine")
    if row.slow_fraction >= SLOW_NOTE_FRACTION:
        out.append(f"{100 * row.slow_fraction:.0f}% of training slowed by contention")
    return out + row.errors


def _cells(row: Row, metrics: Sequence[str], extra_sets: Sequence[str]) -> list[str]:
    q = row.quality.get("test", {})
    memory = row.train_memory_mb if row.peak_cuda_mb is None else row.peak_cuda_mb
    cells = [format_rank(row.rank), row.model, row.kind, str(len(row.seeds)) if row.seeds else "-",
             format_value(q.get("si_sdri_mean"), 2, q.get("si_sdri_std")),
             format_interval(q.get("si_sdri_low"), q.get("si_sdri_high")), format_value(q.get("si_sdri_median"))]
    cells += [format_value(q.get(f"{key}_mean"), 2, q.get(f"{key}_std")) for key in metrics]
    cells += [_si(row.params), _si(row.macs_per_second),
              _si(row.train_macs), format_value(row.train_steps, 0), format_value(row.train_seconds, 0),
              format_value(row.eval_seconds, 0), format_value(row.rtf, 4), format_lookahead(row.lookahead),
              format_value(memory, 0)]
    for name in extra_sets:
        e = row.quality.get(name, {})
        interval = format_interval(e.get("si_sdri_low"), e.get("si_sdri_high"))
        cells.append(format_value(e.get("si_sdri_mean")) + (f" {interval}" if interval != "-" else ""))
    cells.append(" | ".join(notes(row)))
    return cells


def extra_set_names(rows: Sequence[Row]) -> list[str]:
    """Test sets other than ``test`` that any row was evaluated on."""
    return sorted({s for r in rows for s in r.quality if s != "test"})


def metric_titles(rows: Sequence[Row]) -> dict[str, str]:
    """The suite metrics any row shows besides SI-SDRi: payload key -> column title."""
    out: dict[str, str] = {}
    for row in rows:
        for key, title in row.metrics.items():
            out.setdefault(key, title)
    return out


def table_cells(rows: Sequence[Row]) -> tuple[list[str], list[list[str]]]:
    """Header and formatted cells, shared by the terminal, Markdown and HTML tables."""
    extra, metrics = extra_set_names(rows), metric_titles(rows)
    header = [*QUALITY_COLUMNS, *metrics.values(), *COST_COLUMNS, *(f"SI-SDRi {s}" for s in extra), "note"]
    return header, [_cells(r, list(metrics), extra) for r in rows]


def rich_table(rows: Sequence[Row], title: str) -> Any:
    """A rich Table of the leaderboard (oracles on top, mixture and failures at the bottom)."""
    from rich.markup import escape
    from rich.table import Table

    header, cells = table_cells(rows)
    table = Table(title=title)
    for name in header:
        table.add_column(name, justify="left" if name in ("model", "kind", "note") else "right",
                         overflow="fold")
    for i, (row, line) in enumerate(zip(rows, cells)):
        last_of_kind = i + 1 < len(rows) and rows[i + 1].kind != row.kind
        style = "red" if row.kind == "failed" else ("dim" if row.kind in BRACKETS else None)
        table.add_row(*[escape(c) for c in line], style=style, end_section=last_of_kind)
    return table


def records(rows: Sequence[Row], suite: str = "") -> list[dict[str, Any]]:
    """Flat, unformatted records (CSV and JSON): one per row, NaN and infinities as None."""
    extra, metrics = extra_set_names(rows), metric_titles(rows)
    out = []
    for row in rows:
        rec: dict[str, Any] = {"suite": suite, "model": row.model, "family": row.family, "kind": row.kind,
                               "rank_best": row.rank[0] if row.rank else None,
                               "rank_worst": row.rank[1] if row.rank else None,
                               "seeds": len(row.seeds), "seed_ids": " ".join(map(str, row.seeds))}
        for set_name in ["test", *extra]:
            q = row.quality.get(set_name, {})
            prefix = "" if set_name == "test" else f"{set_name}_"
            keys = ["si_sdri_mean", "si_sdri_low", "si_sdri_high", "si_sdri_std", "si_sdri_median"]
            keys += [f"{m}_{stat}" for m in metrics for stat in ("mean", "low", "high", "std")]
            for key in [*keys, "mixtures"]:
                rec[prefix + key] = q.get(key)
        rec.update(params=row.params, macs_per_second=row.macs_per_second, train_macs=row.train_macs,
                   train_examples=row.train_examples, train_steps=row.train_steps,
                   train_seconds=row.train_seconds, eval_seconds=row.eval_seconds,
                   steps_per_second=row.steps_per_second, audio_seconds_per_second=row.audio_seconds_per_second,
                   rtf=row.rtf, lookahead_ms=1000 * row.lookahead,
                   offline=None if math.isnan(row.lookahead) else math.isinf(row.lookahead),
                   train_memory_mb=row.train_memory_mb, peak_cuda_mb=row.peak_cuda_mb,
                   clock_budget=row.clock_budget, slow_fraction=row.slow_fraction, notes=" | ".join(notes(row)))
        out.append({k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in _ints(rec).items()})
    return out


def _ints(rec: dict[str, Any]) -> dict[str, Any]:
    """Integral floats (parameter counts, steps, examples) as ints."""
    for key in ("params", "train_steps", "train_examples"):
        value = rec.get(key)
        if isinstance(value, float) and not math.isnan(value) and value.is_integer():
            rec[key] = int(value)
    return rec
