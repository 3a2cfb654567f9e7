"""Two trainings at once on one device against one after another: is sharing the GPU faster?

    python benchmarks/gpu_concurrency.py [--suite speech-gpu] [--models A,B (default: the suite's first two)]
        [--seconds 15] [--device cuda] [--data-workers 6] [--threads 2]

Each model trains alone for ``--seconds`` of training (its steps per second), then all of them
at once, each in its own process, for the same time. With the data and budget of ``--suite``
(batch size, crop), the models' first steps (cost probe and warm-up excluded: the trainer's
own training clock). The speed-up of running them together is the sum over the models of
(steps/s together) / (steps/s alone): above 1, the runs of a suite finish sooner at once than
one after another (``JOBS`` of benchmarks/gpu_run.sh). Prints a table and, with ``--json``,
writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(suite_name: str, model: str, seconds: float, device: str, data_workers: int, threads: int) -> None:
    """Train ``model`` for ``seconds`` of training and print its steps and seconds as JSON."""
    import dataclasses

    import torch

    import separena
    from separena.train import train

    torch.set_num_threads(threads)
    registry = separena.default_registry()
    suite = registry.suite(suite_name)
    data = registry.suite_data(suite_name)
    budget = dataclasses.replace(suite.budget, steps=None, examples=None, macs=None, minutes=seconds / 60)
    _, result = train(registry.model_config(model), data, budget, segment_seconds=suite.segment_seconds,
                      device=device, progress=False, data_workers=data_workers)
    print(json.dumps({"model": model, "steps": result.steps, "seconds": result.seconds}), flush=True)


def phase(models: list[str], args: argparse.Namespace) -> list[float]:
    """Steps per second of each of ``models`` trained at the same time, each in its own process."""
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", model, "--suite", args.suite,
                               "--seconds", str(args.seconds), "--device", args.device,
                               "--data-workers", str(args.data_workers), "--threads", str(args.threads)],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT) for model in models]
    rates = []
    for model, proc in zip(models, procs):
        out, _ = proc.communicate()
        if proc.returncode != 0:
            sys.exit(f"gpu_concurrency: {model} failed (exit {proc.returncode})")
        last = json.loads(out.strip().splitlines()[-1])
        rates.append(last["steps"] / last["seconds"])
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="speech-gpu")
    ap.add_argument("--models", help="comma-separated (default: the suite's first two models)")
    ap.add_argument("--seconds", type=float, default=15.0, help="training seconds of each model in each phase")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--data-workers", type=int, default=6, help="batch-building processes of each training")
    ap.add_argument("--threads", type=int, default=2, help="torch threads of each training")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.suite, args.worker, args.seconds, args.device, args.data_workers, args.threads)
        return
    if args.models:
        models = [m for m in args.models.split(",") if m]
    else:
        import separena

        models = list(separena.default_registry().suite(args.suite).models[:2])
    alone = [phase([model], args)[0] for model in models]
    together = phase(models, args)
    speedup = sum(t / a for t, a in zip(together, alone))
    print(f"{'model':24s} {'alone steps/s':>14s} {'together steps/s':>17s}")
    for m, a, t in zip(models, alone, together):
        print(f"{m:24s} {a:14.2f} {t:17.2f}")
    print(f"{len(models)} at once on {args.device}: {speedup:.2f}x the work of one after another "
          f"({args.seconds:.0f} s each, {args.data_workers} data workers and {args.threads} threads per run)")
    if args.json:
        args.json.write_text(json.dumps({"models": models, "alone": alone, "together": together, "speedup": speedup,
                                         "device": args.device, "seconds": args.seconds}))


if __name__ == "__main__":
    main()
