"""Long inputs chunk by chunk (``separate_in_chunks``) against one pass: quality and memory.

Quality: the published weights of each model separate long files made of consecutive test
mixtures of their suite (speech-quick: 4 files of 10 x 4 s; music-quick: 4 files of 10 x 6 s),
in one pass and in chunks of 4, 8 and 16 s (a quarter of each shared with the next). Each
mixture's stretch of the output is scored against its own references (SI-SDRi, speakers
matched per mixture), so a change of speaker order or level inside a mixture costs, one
between mixtures does not. "per mixture" separates each mixture alone, as the leaderboard does.

Memory and time: one input of ``--long-seconds`` (white noise) in one pass and in
8-s chunks, each in a fresh process on one thread: the process's peak resident memory (the
loaded model and plugins alone: "loaded"), and the seconds.

Usage::

    .venv/bin/python benchmarks/chunked_separation.py [--mixtures 40] [--long-seconds 600] \\
        [--out docs/benchmarks/chunked_separation.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from separena import default_registry, separate, separate_in_chunks
from separena.bench.published import PublishedStore, default_published_dir, load_published
from separena.metrics import matched_si_sdr, si_sdr

MODELS = {
    "speech-quick": ["mask-inference", "chimera-pp-small", "deep-clustering-small", "conv-tasnet-small",
                     "dprnn-tasnet-small"],
    "music-quick": ["open-unmix-small", "mask-inference-music", "hdemucs-small", "htdemucs-small",
                    "bs-roformer-small", "mel-band-roformer-small"],
}
CHUNKS = (4.0, 8.0, 16.0)  # seconds; a quarter of each is shared with the next
PER_FILE = 10  # test mixtures per long file
PROBE_SECONDS = 600
MEMORY_LIMIT = 16 * 2**30  # bytes of address space per probe process
MEMORY_MODELS = {"speech-quick": ["mask-inference", "conv-tasnet-small", "dprnn-tasnet-small"],
                 "music-quick": ["open-unmix-small", "htdemucs-small", "bs-roformer-small"]}


def suite_test_set(suite_name: str):
    registry = default_registry()
    suite = registry.suite(suite_name)
    data = registry.suite_data(suite_name)
    return registry, suite, data


def quality(suite_name: str, mixtures: int) -> list[dict]:
    registry, suite, data = suite_test_set(suite_name)
    invariant = data.permutation_invariant
    groups = [[data.test[i] for i in range(g, min(g + PER_FILE, mixtures))] for g in range(0, mixtures, PER_FILE)]
    published = PublishedStore(default_published_dir())

    def scores(estimates: torch.Tensor, group: list) -> list[float]:
        out, pos = [], 0
        for ex in group:
            n = ex.mix.shape[-1]
            best, _ = matched_si_sdr(estimates[:, :, pos:pos + n], ex.sources.unsqueeze(0), invariant)
            base = si_sdr(ex.mix.expand_as(ex.sources).unsqueeze(0), ex.sources.unsqueeze(0))
            out.append((best - base).mean().item())
            pos += n
        return out

    rows = []
    for name in MODELS[suite_name]:
        _, model, _ = load_published(published, registry, name, "cpu")
        model.eval()
        row: dict = {"suite": suite_name, "model": name}
        modes = [("per mixture", None), ("one pass", 0.0)] + [(f"{c:g} s", c) for c in CHUNKS]
        for label, seconds in modes:
            t0, got = time.perf_counter(), []
            with torch.no_grad():
                for group in groups:
                    if seconds is None:
                        est = torch.cat([separate(model, ex.mix.unsqueeze(0)).estimates for ex in group], -1)
                    else:
                        mix = torch.cat([ex.mix for ex in group]).unsqueeze(0)
                        chunk = round(seconds * suite.sample_rate)
                        est = separate(model, mix).estimates if not chunk else separate_in_chunks(
                            model, mix, chunk, chunk // 4, invariant)
                    got += scores(est.float(), group)
            row[label] = sum(got) / len(got)
            row[f"{label} seconds"] = time.perf_counter() - t0
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


_MEMORY_PROBE = """
import json, sys, time, torch
torch.set_num_threads(1)
from separena import default_registry, separate_in_chunks
from separena.bench.published import PublishedStore, default_published_dir, load_published
suite_name, name, seconds, chunk_seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
registry = default_registry()
suite = registry.suite(suite_name)
# Noise, not the suite's data: building that data would set the peak before the separation does.
mix = 0.1 * torch.randn(1, int(seconds * suite.sample_rate), generator=torch.Generator().manual_seed(0))
_, model, _ = load_published(PublishedStore(default_published_dir()), registry, name, "cpu")
model.eval()
def high_water_mb():  # VmHWM starts afresh at exec, unlike ru_maxrss, which keeps the forked parent's peak
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024
before = high_water_mb()
t0 = time.perf_counter()
with torch.no_grad():
    chunk = round(chunk_seconds * suite.sample_rate)
    est = model(mix).estimates if not chunk else separate_in_chunks(model, mix, chunk, chunk // 4)
took = time.perf_counter() - t0
print(json.dumps({"peak_mb": high_water_mb(), "loaded_mb": before, "seconds": took,
                  "finite": bool(torch.isfinite(est).all())}))
"""


def _limit_memory() -> None:
    """A one-pass run that would not fit fails with an allocation error instead of swapping."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _probe(suite_name: str, name: str, long_seconds: float, chunk_seconds: float) -> dict:
    try:
        done = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, suite_name, name, str(long_seconds),
                               str(chunk_seconds)], capture_output=True, text=True, timeout=PROBE_SECONDS,
                              env={**os.environ, "OMP_NUM_THREADS": "1"}, preexec_fn=_limit_memory)
    except subprocess.TimeoutExpired:
        return {"error": f"over {PROBE_SECONDS} s"}
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        if "can't allocate memory" in tail:
            return {"error": f"over {MEMORY_LIMIT / 2**30:g} GiB"}
        return {"error": f"exit {done.returncode}: {tail[:120]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def memory(suite_name: str, long_seconds: float) -> list[dict]:
    rows = []
    for name in MEMORY_MODELS[suite_name]:
        row: dict = {"suite": suite_name, "model": name, "input seconds": long_seconds}
        for label, chunk_seconds in (("one pass", 0.0), ("8 s chunks", 8.0)):
            row[label] = _probe(suite_name, name, long_seconds, chunk_seconds)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def markdown(quality_rows: list[dict], memory_rows: list[dict], args: argparse.Namespace) -> str:
    lines = [f"Measured by `benchmarks/chunked_separation.py` on {platform.processor() or platform.machine()}, "
             f"one thread, torch {torch.__version__}: the published weights of each model (docs/benchmark.md)."]
    if quality_rows:
        labels = ["per mixture", "one pass"] + [f"{c:g} s" for c in CHUNKS]
        lines += ["", f"## Quality: SI-SDRi (dB) of each test mixture's stretch of long files "
                      f"({args.mixtures} mixtures per suite)", "",
                  "| suite | model | " + " | ".join(labels) + " |", "|---|---|" + "---:|" * len(labels)]
        lines += [f"| {row['suite']} | {row['model']} | " + " | ".join(f"{row[k]:.2f}" for k in labels) + " |"
                  for row in quality_rows]
    if memory_rows:
        lines += ["", f"## Memory and time: one {args.long_seconds:g}-s input", "",
                  "| suite | model | loaded: MB | one pass: peak MB | seconds | 8-s chunks: peak MB | seconds |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for row in memory_rows:
            loaded = [got["loaded_mb"] for got in (row["one pass"], row["8 s chunks"]) if "loaded_mb" in got]
            cells = [f"{max(loaded):.0f}" if loaded else ""]
            for label in ("one pass", "8 s chunks"):
                got = row[label]
                cells += [got["error"], ""] if "error" in got else [f"{got['peak_mb']:.0f}", f"{got['seconds']:.1f}"]
            lines.append(f"| {row['suite']} | {row['model']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixtures", type=int, default=40, help="test mixtures per suite (0: no quality part)")
    parser.add_argument("--long-seconds", type=float, default=600.0, help="0: no memory part")
    parser.add_argument("--out", type=Path, default=None, help="write the tables here (Markdown)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    quality_rows = [row for suite in MODELS for row in quality(suite, args.mixtures)] if args.mixtures else []
    memory_rows = [row for suite in MEMORY_MODELS for row in memory(suite, args.long_seconds)] \
        if args.long_seconds else []
    text = markdown(quality_rows, memory_rows, args)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
