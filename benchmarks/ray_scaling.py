"""Ray executor scaling: the same small grid on a local Ray cluster of 1 vs 2 CPUs.

Runs one suite (tones-2mix, a few small native models x seeds, plus the oracles) three ways
into fresh stores: the local executor (one run at a time in this process), then a local Ray
cluster with ``num_cpus=1`` and with ``num_cpus=2`` (each run asks for 1 CPU and uses 1 torch
thread). Reports the wall-clock of the suite (cluster start-up and shutdown timed apart), the
1-CPU / 2-CPU ratio, and checks that all three give the same leaderboard numbers.

Usage::

    python benchmarks/ray_scaling.py [--steps 40] [--seeds 3] [--models mask-inference-small conv-tasnet-small]

Writes ``docs/benchmarks/ray_scaling.md``. On a shared machine, run it when the load is low
(the load average is recorded).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "token")  # read by ray at import

import torch
from rich.console import Console
from rich.table import Table
from separena.bench import LocalExecutor, ResultStore, leaderboard, run_suite
from separena.bench.leaderboard import records
from separena.bench.ray_executor import RayExecutor, RegistryRecipe, require_ray

ROOT = Path(__file__).resolve().parents[1]
SUITE = """
suites:
  ray-scaling:
    description: small grid for the Ray scaling benchmark
    dataset: tones-2mix
    dataset_params: {{n_valid: 4, n_test: 8, test_seconds: 1.0}}
    sample_rate: 8000
    segment_seconds: 0.5
    budget: {{steps: {steps}, batch_size: 4}}
    seeds: [{seeds}]
    models: [{models}]
"""


def _table(store: ResultStore, hashes: list[str]) -> list[dict]:
    keep = re.compile(r"^(model|seeds|(\w+_)?(si_sdri|sdri)_\w+|params|train_steps|errors)$")
    rows = leaderboard(store.runs(run_hashes=hashes), store.failures(run_hashes=hashes))
    return [{k: v for k, v in r.items() if keep.match(k)} for r in records(rows, "ray-scaling")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="training steps per run")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per trainable model")
    parser.add_argument("--models", nargs="+", default=["mask-inference-small", "conv-tasnet-small"])
    parser.add_argument("--repeat", type=int, default=1,
                        help="alternate the 1- and 2-CPU clusters this many times; the fastest of each counts")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks" / "ray_scaling.md")
    args = parser.parse_args()
    ray = require_ray()
    console = Console()
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    rows: list[dict] = []  # one per (executor, pass)
    tables: list[list[dict]] = []
    with tempfile.TemporaryDirectory(prefix="rs") as tmp:
        registry_file = Path(tmp) / "scaling.yaml"
        registry_file.write_text(SUITE.format(steps=args.steps, seeds=", ".join(str(s) for s in range(args.seeds)),
                                              models=", ".join(args.models)))
        recipe = RegistryRecipe.of(registry_files=[registry_file])
        registry = recipe.build()
        registry.suite("ray-scaling")  # fail fast on a bad model name
        plan = [("local", None)] + [(label, cpus) for _ in range(args.repeat)
                                    for label, cpus in (("ray 1 CPU", 1), ("ray 2 CPUs", 2))]
        for i, (label, cpus) in enumerate(plan):
            t0 = time.perf_counter()
            executor = (LocalExecutor(registry, progress=False) if cpus is None
                        # others may edit this checkout meanwhile; the tables are compared below instead
                        else RayExecutor(recipe, num_cpus=cpus, temp_dir=tmp, check_code_version=False))
            started = time.perf_counter() - t0
            # cold: fresh worker processes (imports, registry, data); warm: the same workers again
            for phase in ("cold", "warm"):
                with ResultStore(Path(tmp) / f"{i}-{phase}.sqlite") as store:
                    t1 = time.perf_counter()
                    result = run_suite(registry, "ray-scaling", store=store, executor=executor, progress=False)
                    seconds = time.perf_counter() - t1
                    busy = sum(r.payload["wall_seconds"] for r in store.runs(run_hashes=result.run_hashes))
                    tables.append(_table(store, result.run_hashes))
                assert len(result.executed) + len(result.failed) == len(result.configs) > 0
                rows.append({"executor": label, "phase": phase, "start": started, "suite": seconds, "busy": busy,
                             "runs": len(result.executed), "failed": len(result.failed)})
                console.print(f"{label} {phase}: {len(result.executed)} runs in {seconds:.1f} s "
                              f"(sum of run wall-clocks {busy:.1f} s; cluster start {started:.1f} s)")
            t2 = time.perf_counter()
            executor.close()
            rows[-1]["shutdown"] = rows[-2]["shutdown"] = time.perf_counter() - t2
            assert not ray.is_initialized()
    load_after = os.getloadavg()
    same = all(t == tables[0] for t in tables)

    def best(label: str, phase: str) -> dict:
        return min((r for r in rows if r["executor"] == label and r["phase"] == phase), key=lambda r: r["suite"])

    ratio = {phase: best("ray 1 CPU", phase)["suite"] / best("ray 2 CPUs", phase)["suite"]
             for phase in ("cold", "warm")}
    table = Table(title=f"ray-scaling: 1-CPU / 2-CPU wall-clock = {ratio['warm']:.2f}x warm, {ratio['cold']:.2f}x cold")
    for col in ("executor", "pass", "start (s)", "suite (s)", "sum of runs (s)", "runs", "failed"):
        table.add_column(col, justify="left" if col in ("executor", "pass") else "right")
    for r in rows:
        table.add_row(r["executor"], r["phase"], f"{r['start']:.1f}", f"{r['suite']:.1f}", f"{r['busy']:.1f}",
                      str(r["runs"]), str(r["failed"]))
    console.print(table)
    console.print(f"same leaderboard numbers from every executor and pass: {same}")
    n_runs = rows[0]["runs"] + rows[0]["failed"]
    lines = [
        "# Ray executor scaling (generated by `benchmarks/ray_scaling.py`)",
        "",
        f"Grid: a suite on tones-2mix, models {', '.join(args.models)} x {args.seeds} seeds plus the oracles "
        f"({n_runs} runs), {args.steps} steps of batch 4 per trained run; each Ray run asks for 1 CPU and uses "
        "1 torch thread. Each executor runs the grid twice into fresh stores: *cold* (new worker processes: "
        "imports, registry, data) and *warm* (the same workers again). Ray clusters of 1 and 2 CPUs alternate "
        f"{args.repeat} time(s).",
        "",
        "| executor | pass | cluster start (s) | suite wall-clock (s) | sum of run wall-clocks (s) | runs | failed |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        *(f"| {r['executor']} | {r['phase']} | {r['start']:.1f} | {r['suite']:.1f} | {r['busy']:.1f} | {r['runs']} | "
          f"{r['failed']} |" for r in rows),
        "",
        f"**1-CPU / 2-CPU suite wall-clock ratio (fastest of each): {ratio['warm']:.2f}x warm, {ratio['cold']:.2f}x "
        f"cold** (ideal 2.00x). Same leaderboard numbers from every executor and pass: {'yes' if same else 'NO'}. "
        "When the sum of run wall-clocks with 2 CPUs is about twice the suite wall-clock, both cores worked; "
        "when each run got slower instead, the cores were busy with other work.",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, torch "
        f"{torch.__version__}, ray {ray.__version__}; load average before {load_before[0]:.2f}, after "
        f"{load_after[0]:.2f} (a shared machine: other work competes for the same cores).",
        "",
    ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines))
    console.print(f"wrote {args.output}")
    if not same:
        raise SystemExit("leaderboards differ between executors")


if __name__ == "__main__":
    main()
