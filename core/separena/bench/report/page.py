"""The report's ``index.html``: every suite's table, pairwise matrix, plots and separated
examples (audio copied in, with spectrogram images), the cross-suite table and the rank
agreements; portable, every link relative."""

from __future__ import annotations

import html
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..leaderboard import latest_runs, table_cells
from .suites import Agreement, CrossSuite, SuiteReport
from .tables import CROSS_LEGEND, LEGEND, SOURCE_LEGEND, seed_line, source_rows

__all__ = ["write_html", "copy_audio"]


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


def copy_audio(out: Path, artifacts: Path, rep: SuiteReport) -> dict[str, list[dict[str, Any]]]:
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


def write_html(out: Path, reports: list[SuiteReport], plots: dict[str, list[tuple[str, str]]],
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
        parts.append(f"<p><small>{e(LEGEND)}<br>{e(seed_line(rep.rows))}</small></p>")
        parts.append(_pair_matrix(rep))
        for scores in rep.per_source():
            parts.append(f"<h3>Per source on {e(scores.set_name)}</h3><table><thead><tr><th>model</th><th>metric</th>"
                         + "".join(f"<th>{e(name)}</th>" for name in scores.sources) + "<th>mean</th></tr></thead><tbody>")
            parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>" for cells in source_rows(rep, scores)]
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
