"""separena-mamba's selective scan against mambapy's parallel scan, in one run.

One bidirectional Mamba layer (``MambaStack``, width 64, E 128, N 16, one thread) on the
sequences the Mamba presets give it: ``mamba-mask-inference``'s 126 STFT frames per 2-s crop,
and ``dpmamba-small``'s intra-chunk (100 frames) and inter-chunk (41 chunks) sequences of a
training batch (8 x 2 s), then its intra-chunk sequences in evaluation (8 x 4 s, no
gradient). For each scan: median seconds of a training pass (forward + backward) or of a
forward pass, and the peak memory the pass adds to its process (resident set, measured in a
fresh process per case). Ratio: mambapy's over separena's.

Usage::

    .venv/bin/python benchmarks/selective_scan.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch

# name, sequences, frames, training (forward + backward) or not
CASES = [
    ("mamba-mask-inference, training", 8, 126, True),
    ("dpmamba-small intra-chunk, training", 328, 100, True),
    ("dpmamba-small inter-chunk, training", 800, 41, True),
    ("dpmamba-small intra-chunk, evaluation", 648, 100, False),
]
WIDTH = 64


def measure(case: int, scan: str, repeats: int) -> dict[str, float]:
    """Seconds and added peak memory of one case with one scan, in this (fresh) process."""
    from separena_mamba.model import MambaStack

    torch.set_num_threads(1)
    _, sequences, frames, training = CASES[case]
    torch.manual_seed(0)
    stack = MambaStack(WIDTH, WIDTH, num_layers=1, bidirectional=True)
    if scan == "mambapy":
        for layer in stack.blocks.layers:
            del layer.mixer.selective_scan  # the instance's override: back to mambapy's own method
    x = torch.randn(sequences, frames, WIDTH, requires_grad=training)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeats + 1):
        begin = time.perf_counter()
        if training:
            stack(x).square().mean().backward()
        else:
            with torch.no_grad():
                stack(x)
        times.append(time.perf_counter() - begin)
    added = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before  # kB on Linux
    return {"seconds": statistics.median(times[1:]), "mb": added / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--measure", nargs=2, metavar=("CASE", "SCAN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(int(args.measure[0]), args.measure[1], args.repeats)))
        return
    rows = []
    for case, (name, sequences, frames, _) in enumerate(CASES):
        result = {}
        for scan in ("mambapy", "separena"):
            out = subprocess.run([sys.executable, __file__, "--repeats", str(args.repeats), "--measure", str(case),
                                  scan], check=True, capture_output=True, text=True).stdout
            result[scan] = json.loads(out.strip().splitlines()[-1])
        old, new = result["mambapy"], result["separena"]
        rows.append(f"| {name} | {sequences} x {frames} | {old['seconds']:.3f} | {new['seconds']:.3f} "
                    f"| {old['seconds'] / new['seconds']:.1f} | {old['mb']:.0f} MB | {new['mb']:.0f} MB "
                    f"| {old['mb'] / max(new['mb'], 1):.1f} |")
        print(rows[-1], flush=True)
    print(f"\nMeasured {time.strftime('%Y-%m-%d')} with `benchmarks/selective_scan.py --repeats {args.repeats}` on "
          f"{platform.machine()}, one thread, torch {torch.__version__}; one bidirectional layer of width {WIDTH}; "
          "ratios: mambapy's over separena's.\n")
    print("| case | sequences x frames | mambapy s | separena s | speed-up | mambapy peak | separena peak "
          "| memory ratio |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
