"""The report's text files: ``leaderboard.md``, ``leaderboard.csv``, ``leaderboard.json`` and
``scores.csv`` (every stored score), and the legends the HTML page shares with them."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..leaderboard import ByInput, Row, SourceScores, latest_runs, records, source_groups, table_cells
from .suites import Agreement, CrossSuite, SuiteReport

__all__ = ["write_markdown", "write_csv", "write_json", "write_scores", "LEGEND", "CROSS_LEGEND", "SOURCE_LEGEND",
           "seed_line", "source_rows", "group_sizes"]


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


def seed_line(rows: Sequence[Row]) -> str:
    return "seeds: " + "; ".join(f"{r.model} {', '.join(map(str, r.seeds))}" for r in rows if r.seeds)


CROSS_LEGEND = ("Mean SI-SDRi on each suite's test set (dB, seeds averaged) of the trained models two or more "
                "suites share, and in parentheses the model's rank in that suite among the models of this table "
                "(1 = best); models by mean rank. Suites differ in data, so compare ranks across columns and "
                "scores within one. Kendall's tau: each suite's ranking against that of the suite sharing the "
                "most models.")


def write_markdown(out: Path, reports: list[SuiteReport], agreements: Sequence[Agreement],
                    cross: CrossSuite | None = None) -> Path:
    lines = ["# separena leaderboard", ""]
    for rep in reports:
        lines += [f"## {rep.name}", "", rep.summary, ""]
        header, cells = table_cells(rep.rows)
        lines.append("| " + " | ".join(header) + " |")
        lines.append("| " + " | ".join("---" if h in ("model", "kind", "note") else "---:" for h in header) + " |")
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in cells]
        lines += ["", LEGEND, "", seed_line(rep.rows), ""]
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
    from ...data.real import REAL_PACKAGES, speaker_package
    from ...data.transfer import TRANSFER_PACKAGES

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


def source_rows(rep: SuiteReport, scores: SourceScores) -> list[list[str]]:
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
        lines += ["| " + " | ".join(cells) + " |" for cells in source_rows(rep, scores)]
        lines += ["", SOURCE_LEGEND, ""]
    return lines


def group_sizes(found: ByInput) -> str:
    """``"5 groups of 80"`` or ``"5 groups of 1 to 2"``."""
    low, high = min(found.sizes), max(found.sizes)
    return f"{len(found.sizes)} groups of {low}" + (f" to {high}" if high != low else "")


def _by_input_table(rep: SuiteReport) -> list[str]:
    """Markdown lines: each model's SI-SDRi on test by the input SI-SDR of the source."""
    found = rep.by_input
    if found is None:
        return []
    lines = [f"SI-SDRi (dB) on test by the input SI-SDR of the source: the test sources in {group_sizes(found)}, each "
             "column headed by its group's median input SI-SDR:", "",
             "| model | " + " | ".join(f"{x:.2f} dB" for x in found.inputs) + " |",
             "| --- |" + " ---: |" * len(found.inputs)]
    lines += [f"| {model} | " + " | ".join(f"{v:.2f}" for v in means) + " |" for model, means in found.means.items()]
    return lines + [""]


def write_csv(out: Path, reports: list[SuiteReport]) -> Path:
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


def write_scores(out: Path, reports: list[SuiteReport]) -> Path:
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


def write_json(out: Path, reports: list[SuiteReport], agreements: Sequence[Agreement],
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
