"""The leaderboard: stored runs aggregated into one row per model.

Quality on each test set is the SI-SDRi (and BSS Eval SDRi) mean and median over the
mixtures, averaged over seeds, with the spread over seeds (± one standard deviation of the
per-seed means). Cost columns are averaged over seeds. Oracle rows always open the table and
the unprocessed mixture closes it, so every model sits between "perfect masks" and "did
nothing"; models that only failed are listed last with their error.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..specs import BRACKETS
from .store import StoredFailure, StoredRun

__all__ = ["Row", "leaderboard", "latest_runs", "records", "rich_table", "COLUMNS", "format_value"]


@dataclass
class Row:
    """One model's line in the leaderboard."""

    model: str
    family: str
    kind: str  # "oracle" | "model" | "baseline" | "failed"
    seeds: list[int] = field(default_factory=list)  # seeds with a finished run
    quality: dict[str, dict[str, float]] = field(default_factory=dict)  # test set -> metric -> value
    params: float = math.nan
    macs_per_second: float = math.nan
    steps_per_second: float = math.nan
    audio_seconds_per_second: float = math.nan
    train_steps: float = math.nan
    train_seconds: float = math.nan
    rtf: float = math.nan
    peak_rss_mb: float = math.nan
    peak_cuda_mb: float | None = None
    errors: list[str] = field(default_factory=list)  # one line per failed seed
    run_hashes: list[str] = field(default_factory=list)


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


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _std(values: Sequence[float]) -> float:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.stdev(finite) if len(finite) > 1 else math.nan


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
    for model, model_runs in by_model.items():
        row = rows[model]
        set_names = sorted({s for r in model_runs for s in r.payload["sets"]}, key=lambda s: (s != "test", s))
        for set_name in set_names:
            per = [r.payload["sets"][set_name] for r in model_runs if set_name in r.payload["sets"]]
            means = [s["si_sdri_mean"] for s in per]
            sdri = [s["sdri_mean"] for s in per]
            row.quality[set_name] = {
                "si_sdri_mean": _mean(means), "si_sdri_std": _std(means),
                "si_sdri_median": _mean([s["si_sdri_median"] for s in per]),
                "sdri_mean": _mean(sdri), "sdri_std": _std(sdri), "mixtures": per[0]["n"],
            }
        row.params = _mean([r.payload["cost"]["params"] for r in model_runs])
        row.macs_per_second = _mean([r.payload["cost"]["macs_per_second"] for r in model_runs])
        row.rtf = _mean([r.payload["cost"]["rtf"] for r in model_runs])
        row.peak_rss_mb = _mean([r.payload["cost"]["peak_rss_mb"] for r in model_runs])
        cuda = [r.payload["cost"].get("peak_cuda_mb") for r in model_runs]
        row.peak_cuda_mb = _mean(cuda) if any(c is not None for c in cuda) else None
        trained = [r.payload["train"] for r in model_runs]
        row.train_steps = _mean([t["steps"] for t in trained])
        row.train_seconds = _mean([t["seconds"] for t in trained])
        if any(t["steps"] for t in trained):
            row.steps_per_second = _mean([t["steps_per_second"] for t in trained])
            row.audio_seconds_per_second = _mean([t["audio_seconds_per_second"] for t in trained])
    finished_at = {(r.model, r.seed): r.finished_at for r in latest_runs(runs)}
    for failure in failures:
        if finished_at.get((failure.model, failure.seed), -math.inf) > failure.failed_at:
            continue  # an older code version failed; a newer run of the same model and seed finished
        cfg = failure.payload.get("config", {})
        row = rows.setdefault(failure.model, Row(failure.model, cfg.get("family", "?"), "failed"))
        row.errors.append(f"seed {failure.seed}: {failure.error}")

    def quality(row: Row) -> float:
        value = row.quality.get("test", {}).get("si_sdri_mean", math.nan)
        return -math.inf if math.isnan(value) else value

    order = {"oracle": 0, "model": 1, "baseline": 2, "failed": 3}
    return sorted(rows.values(), key=lambda r: (order[r.kind], -quality(r), r.model))


# -- presentation ------------------------------------------------------------------------
def format_value(value: float | None, digits: int = 2, spread: float | None = None) -> str:
    """``3.14``, ``3.14 ± 0.20`` or ``-`` for missing values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = f"{value:.{digits}f}"
    if spread is not None and not math.isnan(spread):
        text += f" ± {spread:.{digits}f}"
    return text


def _si(value: float, unit: str = "") -> str:
    if value is None or math.isnan(value):
        return "-"
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.2f} {prefix}{unit}".rstrip()
    return f"{value:.0f} {unit}".rstrip()


COLUMNS = ("model", "kind", "seeds", "SI-SDRi (dB)", "median", "SDRi (dB)", "params", "MACs/s",
           "train steps/s", "RTF", "peak MB", "note")


def _cells(row: Row, extra_sets: Sequence[str]) -> list[str]:
    q = row.quality.get("test", {})
    cells = [row.model, row.kind, ",".join(map(str, row.seeds)) or "-",
             format_value(q.get("si_sdri_mean"), 2, q.get("si_sdri_std")), format_value(q.get("si_sdri_median")),
             format_value(q.get("sdri_mean"), 2, q.get("sdri_std")), _si(row.params), _si(row.macs_per_second),
             format_value(row.steps_per_second), format_value(row.rtf, 4),
             format_value(row.peak_rss_mb if row.peak_cuda_mb is None else row.peak_cuda_mb, 0)]
    for name in extra_sets:
        cells.append(format_value(row.quality.get(name, {}).get("si_sdri_mean")))
    cells.append(" | ".join(row.errors))
    return cells


def extra_set_names(rows: Sequence[Row]) -> list[str]:
    """Test sets other than ``test`` that any row was evaluated on."""
    return sorted({s for r in rows for s in r.quality if s != "test"})


def table_cells(rows: Sequence[Row]) -> tuple[list[str], list[list[str]]]:
    """Header and formatted cells, shared by the terminal, Markdown and HTML tables."""
    extra = extra_set_names(rows)
    header = list(COLUMNS[:-1]) + [f"SI-SDRi {s}" for s in extra] + [COLUMNS[-1]]
    return header, [_cells(r, extra) for r in rows]


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
    extra = extra_set_names(rows)
    out = []
    for row in rows:
        rec: dict[str, Any] = {"suite": suite, "model": row.model, "family": row.family, "kind": row.kind,
                               "seeds": " ".join(map(str, row.seeds))}
        for set_name in ["test", *extra]:
            q = row.quality.get(set_name, {})
            prefix = "" if set_name == "test" else f"{set_name}_"
            for key in ("si_sdri_mean", "si_sdri_std", "si_sdri_median", "sdri_mean", "sdri_std", "mixtures"):
                rec[prefix + key] = q.get(key)
        rec.update(params=row.params, macs_per_second=row.macs_per_second, train_steps=row.train_steps,
                   train_seconds=row.train_seconds, steps_per_second=row.steps_per_second,
                   audio_seconds_per_second=row.audio_seconds_per_second, rtf=row.rtf,
                   peak_rss_mb=row.peak_rss_mb, peak_cuda_mb=row.peak_cuda_mb, errors=" | ".join(row.errors))
        out.append({k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in _ints(rec).items()})
    return out


def _ints(rec: dict[str, Any]) -> dict[str, Any]:
    """Integral floats (parameter counts, steps) as ints."""
    for key in ("params", "train_steps"):
        value = rec.get(key)
        if isinstance(value, float) and not math.isnan(value) and value.is_integer():
            rec[key] = int(value)
    return rec
