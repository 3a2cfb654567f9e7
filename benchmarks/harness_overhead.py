"""How much of a benchmark's wall-clock is the harness, not the models (target: < 10 %).

Runs a small suite with realistic sizes (2-s crops, batch 8, 4-s test mixtures, the native
models plus the oracles) through the real runner and store, then splits the wall-clock of
the invocation into

- model work: training steps without their data loading, and evaluation forward passes;
- harness overhead: everything else — data loading per training step, the evaluator's
  SI-SDR, the suite's other metrics (SDRi, ...), the training-cost probe, the learning curve
  (a validation subset scored at 6 points of the budget), the cost columns (MACs/s, RTF,
  lookahead), saving weights and example audio, store writes, bookkeeping.

Building (or loading) the dataset happens once before the timed invocation and is excluded,
as it is cached across runs and invocations. Writes ``docs/benchmarks/harness_overhead.md``.

Usage::

    python benchmarks/harness_overhead.py [--minutes 0.5] [--n-test 50] [--models mask-inference conv-tasnet-small]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from separena import default_registry
from separena.bench import DataCache, ResultStore, run_suite

ROOT = Path(__file__).resolve().parents[1]
SUITE = """
suites:
  harness-overhead:
    description: realistic sizes, short budget, for measuring the harness
    dataset: espeak-2mix
    dataset_params: {{n_train_speakers: 60, n_valid_speakers: 8, n_test_speakers: 16, n_valid: 8, n_test: {n_test}, test_seconds: 4.0}}
    sample_rate: 8000
    segment_seconds: 2.0
    budget: {{minutes: {minutes}, batch_size: 8}}
    seeds: [0]
    models: [{models}]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=0.5, help="training minutes per model")
    parser.add_argument("--n-test", type=int, default=50, help="test mixtures (4 s each)")
    parser.add_argument("--models", nargs="+", default=["mask-inference", "deep-clustering-small", "chimera-pp-small",
                                                         "conv-tasnet-small", "dprnn-tasnet-small"])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks" / "harness_overhead.md")
    args = parser.parse_args()
    console = Console()
    torch.set_num_threads(1)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        yaml = Path(tmp) / "suite.yaml"
        yaml.write_text(SUITE.format(n_test=args.n_test, minutes=args.minutes, models=", ".join(args.models)))
        registry = default_registry(registry_files=[yaml])
        suite = registry.suite("harness-overhead")
        cache = DataCache()
        t0 = time.perf_counter()
        data = cache.get(registry, suite.dataset, suite.dataset_params, suite.sample_rate)
        scored = ", ".join(f"{name} {len(mixtures)}" for name, mixtures in data.test_sets().items())
        data_seconds = time.perf_counter() - t0
        with ResultStore(Path(tmp) / "bench.sqlite") as store:
            t0 = time.perf_counter()
            result = run_suite(registry, suite.name, store=store, data_cache=cache, progress=False)
            wall = time.perf_counter() - t0
            runs = store.runs(run_hashes=result.run_hashes)
    if result.failed:
        console.print(f"[red]{len(result.failed)} run(s) failed; their time still counts[/red]")
    parts = dict.fromkeys(["training steps (model work)", "evaluation forward (model work)", "train data loading",
                           "evaluator SI-SDR and bookkeeping", "other metrics (SDRi, ...)", "training-cost probe",
                           "learning curve (validation subset)", "cost columns (MACs/s, RTF, lookahead)",
                           "weights and example audio"], 0.0)
    run_wall = 0.0
    for run in runs:
        t = run.payload["timing"]
        run_wall += run.payload["wall_seconds"]
        parts["training steps (model work)"] += t["train"] - t["train_data"]
        parts["train data loading"] += t["train_data"]
        parts["training-cost probe"] += t.get("train_cost_probe", 0.0)
        parts["learning curve (validation subset)"] += t.get("curve", 0.0)
        metric_keys = tuple(f"{key}_" for key in run.payload.get("metrics", {}))
        for key, value in t.items():
            if key.startswith("forward_"):
                parts["evaluation forward (model work)"] += value
                parts["evaluator SI-SDR and bookkeeping"] += t["evaluate_" + key[len("forward_"):]] - value
            elif key.startswith(metric_keys):
                parts["other metrics (SDRi, ...)"] += value
        parts["cost columns (MACs/s, RTF, lookahead)"] += t.get("cost", 0.0)
        parts["weights and example audio"] += t.get("weights", 0.0) + t.get("artifacts", 0.0)
    accounted = sum(parts.values())
    parts["other per-run work (model build, data lookup, payload)"] = max(run_wall - accounted, 0.0)
    parts["driver: planning, store writes, hashing"] = max(wall - run_wall, 0.0)
    model_work = parts["training steps (model work)"] + parts["evaluation forward (model work)"]
    overhead = (wall - model_work) / wall
    scoring = parts["evaluator SI-SDR and bookkeeping"] + parts["other metrics (SDRi, ...)"]

    table = Table(title=f"harness overhead: {overhead:.1%} of {wall:.0f} s")
    table.add_column("part")
    table.add_column("seconds", justify="right")
    table.add_column("share", justify="right")
    for name, seconds in parts.items():
        table.add_row(name, f"{seconds:.1f}", f"{seconds / wall:.1%}")
    console.print(table)
    lines = [
        "# Harness overhead", "",
        f"Measured by `benchmarks/harness_overhead.py` on {platform.machine()} with {torch.get_num_threads()} "
        f"torch thread(s), torch {torch.__version__}, {time.strftime('%Y-%m-%d')}; 1-min load average "
        f"{load[0]:.1f} before and {os.getloadavg()[0]:.1f} after (other processes share the cores).", "",
        f"Suite: models {', '.join(args.models)} plus the oracles ({len(runs)} runs), "
        f"{args.minutes:g} min of training per model (2-s crops, batch 8), {args.n_test} test mixtures of 4 s; "
        f"every run scores each test set of the data (mixtures: {scored}) with SI-SDRi and SDRi; "
        f"data building/loading ({data_seconds:.0f} s) excluded, being cached.", "",
        f"**Harness overhead: {overhead:.1%}** of {wall:.0f} s wall-clock (target < 10 %); scoring (the "
        f"evaluator's SI-SDR and the suite's other metrics) takes {scoring / wall:.1%} of the wall clock, the rest "
        f"of the harness {(wall - model_work - scoring) / wall:.1%}.", "",
        "| part | seconds | share |", "| --- | ---: | ---: |",
        *[f"| {name} | {seconds:.1f} | {seconds / wall:.1%} |" for name, seconds in parts.items()], "",
        "Model work is the training steps (forward, backward, optimizer; their data loading excluded) and the "
        "evaluation forward passes. Everything else counts as overhead. The oracle runs have no training, so "
        "their metric time weighs more here than in `speech-quick`, where each model trains for 1.2 TMACs.", "",
    ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines), encoding="utf-8")
    console.print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
