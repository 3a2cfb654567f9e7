"""The report's PNG plots: quality against cost and lookahead, training losses and learning
curves, scores per source, per mixture and by input level, and the cross-suite heat map."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...specs import BRACKETS
from ..leaderboard import Row, latest_runs, per_mixture_scores
from .suites import CrossSuite, SuiteReport
from .tables import group_sizes

__all__ = ["suite_plots", "cross_suite_plot", "CURVE_SET"]


def suite_plots(out: Path, rep: SuiteReport) -> list[tuple[str, str]]:
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
                            f"{group_sizes(by_input)} by the mixture's SI-SDR against them"))
    return made


def cross_suite_plot(out: Path, cross: CrossSuite) -> tuple[str, str]:
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
