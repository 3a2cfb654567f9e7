"""``separena report``: the stored leaderboard as Markdown, CSV, JSON and a static HTML page.

The output folder is portable: plots are PNG files beside ``index.html``, the example audio
is copied in, and every link is relative.
"""

from __future__ import annotations

import csv
import html
import json
import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import SeparenaError
from ..specs import BRACKETS
from .leaderboard import Row, latest_runs, leaderboard, records, table_cells
from .store import ResultStore, StoredRun

__all__ = ["write_report", "SuiteReport", "collect"]


class SuiteReport:
    """One suite's leaderboard rows and the runs behind them."""

    def __init__(self, name: str, runs: list[StoredRun], rows: list[Row]) -> None:
        self.name, self.runs, self.rows = name, runs, rows

    @property
    def summary(self) -> str:
        if not self.runs:
            return "no finished runs yet"
        cfg = self.runs[-1].payload["config"]
        budget = ", ".join(f"{k} {v}" for k, v in cfg["budget"].items() if v is not None)
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


def write_report(store: ResultStore, out_dir: str | Path, suites: Sequence[str] | None = None) -> list[Path]:
    """Write ``leaderboard.md``, ``.csv``, ``.json`` and ``index.html`` (with plots and audio).

    Returns the paths written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    reports = collect(store, suites)
    written = [_write_markdown(out, reports), _write_csv(out, reports), _write_json(out, reports)]
    plots = {r.name: _plots(out, r) for r in reports}
    audio = {r.name: _copy_audio(out, store.artifacts_dir, r) for r in reports}
    written.append(_write_html(out, reports, plots, audio))
    return written


# -- text formats ------------------------------------------------------------------------
def _write_markdown(out: Path, reports: list[SuiteReport]) -> Path:
    lines = ["# separena leaderboard", ""]
    for rep in reports:
        lines += [f"## {rep.name}", "", rep.summary, ""]
        header, cells = table_cells(rep.rows)
        lines.append("| " + " | ".join(header) + " |")
        lines.append("| " + " | ".join("---" if h in ("model", "kind", "note") else "---:" for h in header) + " |")
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in cells]
        lines += ["", "SI-SDRi and SDRi: mean over the test mixtures, ± the standard deviation over seeds; "
                  "median: of the per-mixture SI-SDRi. MACs per second of audio; RTF: inference seconds per "
                  "audio second; peak MB: RSS growth during the run (CUDA peak on GPU).", ""]
    path = out / "leaderboard.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


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


def _write_json(out: Path, reports: list[SuiteReport]) -> Path:
    doc = {"suites": {rep.name: {"summary": rep.summary, "rows": records(rep.rows, rep.name)} for rep in reports}}
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
                err = q["si_sdri_std"] if not math.isnan(q["si_sdri_std"]) else None
                ax.errorbar([x], [q["si_sdri_mean"]], yerr=err, fmt="o", capsize=3)
                ax.annotate(row.model, (x, q["si_sdri_mean"]), textcoords="offset points", xytext=(4, 4), fontsize=8)
        for row in brackets:
            ax.axhline(row.quality["test"]["si_sdri_mean"], linestyle="--", linewidth=0.8, color="grey")
            ax.text(1.0, row.quality["test"]["si_sdri_mean"], f" {row.model}", transform=ax.get_yaxis_transform(),
                    fontsize=7, va="center", color="grey")
        if any(getattr(r, attr) and getattr(r, attr) > 0 for r in models):
            ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("SI-SDRi on test (dB)")
        ax.set_title(f"{rep.name}: quality vs {label}")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        rel = f"plots/{rep.name}-quality-vs-{slug}.png"
        fig.savefig(out / rel, dpi=100)
        plt.close(fig)
        made.append((rel, f"SI-SDRi vs {label}"))
    fig, ax = plt.subplots(figsize=(6, 4))
    for run in sorted(latest_runs(rep.runs), key=lambda r: (r.model, r.seed)):
        t = run.payload["train"]
        if t["losses"]:
            ax.plot(t["loss_steps"], t["losses"], linewidth=0.8, label=f"{run.model} (seed {run.seed})")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title(f"{rep.name}: training loss")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    rel = f"plots/{rep.name}-losses.png"
    fig.savefig(out / rel, dpi=100)
    plt.close(fig)
    made.append((rel, "training loss per step"))
    return made


# -- audio -------------------------------------------------------------------------------
def _copy_audio(out: Path, artifacts: Path, rep: SuiteReport) -> dict[str, list[dict[str, Any]]]:
    """Copy each model's saved examples (first seed's run) into the report; model -> examples."""
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
            kept.append(ex)
        by_model[run.model] = kept
    return by_model


# -- html --------------------------------------------------------------------------------
_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1300px}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
td:first-child,th:first-child{text-align:left}tr.oracle,tr.baseline{color:#666;background:#f6f6f6}
tr.failed{color:#b00}.plots img{max-width:32%;margin-right:1%}audio{height:28px;width:220px}
.example td{text-align:left;vertical-align:top}"""


def _write_html(out: Path, reports: list[SuiteReport], plots: dict[str, list[tuple[str, str]]],
                audio: dict[str, dict[str, list[dict[str, Any]]]]) -> Path:
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
    parts.append("</body></html>")
    path = out / "index.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _players(paths: Sequence[str]) -> str:
    return "<br>".join(f"<audio controls preload=\"none\" src=\"{html.escape(p)}\"></audio>" for p in paths)
