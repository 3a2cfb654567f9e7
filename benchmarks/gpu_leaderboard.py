"""The reference leaderboard on one GPU, in one command: build the data, train and evaluate
every model of a suite, and publish the runs with their weights.

    python benchmarks/gpu_leaderboard.py [--suite speech-gpu] [--device cuda] [--jobs N]
        [--store results/gpu.sqlite] [--published published/] [--registry FILE] [BENCH OPTIONS]

Runs `separena bench` (resuming: a run already in the store is not trained again), then
`separena publish` into the repository's ``published/`` folder (float16 weights where no test
score moves by more than 0.05 dB; a CPU test reproduces each published score), and prints the
wall clock of each stage with the device it ran on: the numbers docs/benchmarks/ reports.
Runnable on any CUDA machine with the project installed (``scripts/setup.sh``); on a machine
without one, ``--device cpu`` runs the same steps (the tests do, on the smoke suite).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch


def separena(name: str, *args: str, extra: Sequence[str] = ()) -> None:
    """Run a separena command in a fresh interpreter (as a user would); stop on failure.

    A deadline's SIGINT (``timeout`` signals the whole process group) reaches the command too,
    which then stops after its training step and saves the run's state. This process ignores
    it while it waits: ``subprocess.run`` would kill the command a quarter of a second later,
    possibly before that state is written.
    """
    args = (*extra, name, *args)
    command = [sys.executable, "-m", "separena.cli", *args]
    print("$ separena " + " ".join(args), flush=True)
    process = subprocess.Popen(command)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        code = process.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    if code == 130:
        sys.exit(f"separena {name} was interrupted; the store keeps every finished run and the state of a "
                 "run cut in its training, so running this again resumes")
    if code != 0:
        sys.exit(f"separena {name} failed; the store keeps every finished run, so running this again resumes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="speech-gpu")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (processes sharing the device)")
    parser.add_argument("--store", type=Path, default=Path("results/gpu.sqlite"))
    parser.add_argument("--published", type=Path, default=None, help="default: the repository's published/")
    parser.add_argument("--registry", type=Path, default=None, help="an extra registry file (suites)")
    parser.add_argument("--no-publish", action="store_true", help="train and evaluate only")
    args, bench_args = parser.parse_known_args()  # the rest goes to `separena bench` (--threads, --data-workers)
    extra = ["--registry", str(args.registry)] if args.registry else []
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu"
    started = time.perf_counter()
    separena("bench", "--suite", args.suite, "--device", args.device, "--store", str(args.store),
             "--jobs", str(args.jobs), *bench_args, extra=extra)
    benched = time.perf_counter()
    if not args.no_publish:
        out = ["-o", str(args.published)] if args.published else []
        separena("publish", "--suite", args.suite, "--store", str(args.store), "--device", args.device, *out,
                 extra=extra)
    done = time.perf_counter()
    print(f"{args.suite} on {name} ({args.jobs} run(s) at once): bench {benched - started:.0f} s "
          f"(data, training, evaluation), publish {done - benched:.0f} s, total {done - started:.0f} s")


if __name__ == "__main__":
    main()
