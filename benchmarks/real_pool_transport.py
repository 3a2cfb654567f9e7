"""Can the real recorded training speakers travel to a GPU machine (64 MiB per call), and does
a lossy copy change the scores?

1. **Sizes**: the real training speakers of the default ``espeak-2mix`` (the joined training
   pool: every clip of each of the 45 speakers), and the evaluation sets that must be scored
   there sample for sample (``real-dev`` and ``transfer``: their two sources per mixture; the
   mixture is their sum, ``mix_from_sources``), each encoded in one ffmpeg call as FLAC (lossless)
   and as Opus at ``--rates`` kb/s.
2. **Scores**: ``mask-inference`` at ``speech-quick``'s budget (550 steps, batch 8, 2-s crops,
   as ``benchmarks/data_ablation.py``) on the default data, with the real training pool as it
   is and with every utterance of it through Opus at each rate and back (the same
   :func:`separena.data.channel.coded_pool` that the ``codec`` option uses, with probability 1
   and one codec); ``test``, ``real-dev`` and ``transfer``, seeds pooled, paired differences with
   95 % bootstrap intervals.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/real_pool_transport.py [--rates 12,16,24] [--seeds 0,1] \
        [--json real_pool_transport.json] [--table]
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

STEPS = 550
LIMIT_BYTES = 64 * 2**20


def encoded_bytes(signal: np.ndarray, sample_rate: int, encode: list[str], container: str) -> int:
    """Bytes of ``signal [time]`` (float32) encoded by ffmpeg with ``encode`` into ``container``."""
    pcm = (np.clip(signal, -1, 1) * 32767).astype(np.int16).tobytes()
    out = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "s16le", "-ar", str(sample_rate), "-ac", "1",
                          "-i", "pipe:0", *encode, "-f", container, "pipe:1"], input=pcm, capture_output=True,
                         check=True)
    return len(out.stdout)


def sizes(rates: list[int], results: dict) -> None:
    from separena.data import real, transfer

    sr = 8000
    sets = {
        "real training speakers": np.concatenate([u.waveform.numpy() for u in real.real_speech_pool("train", sr)]),
        "real-dev sources": _sources(real.real_dev(sample_rate=sr)),
        "transfer sources": _sources(transfer.transfer_set(sample_rate=sr)),
    }
    out = {}
    for name, signal in sets.items():
        row = {"minutes": len(signal) / sr / 60, "wav16": 2 * len(signal),
               "flac": encoded_bytes(signal, sr, ["-c:a", "flac", "-compression_level", "8"], "flac")}
        for rate in rates:
            row[f"opus-{rate}k"] = encoded_bytes(signal, sr, ["-c:a", "libopus", "-b:a", f"{rate}k"], "ogg")
        out[name] = row
        print(name, {k: round(v / 2**20, 1) if k != "minutes" else round(v, 1) for k, v in row.items()}, flush=True)
    results["sizes"] = out


def _sources(mixtures) -> np.ndarray:
    return np.concatenate([mixtures[i].sources.reshape(-1).numpy() for i in range(len(mixtures))])


def scores(rates: list[int], seeds: list[int], args: argparse.Namespace, results: dict) -> None:
    import separena
    from separena.data import channel
    from separena.data.speech import espeak_2mix
    from separena.specs import Budget
    from separena.train import train

    config = separena.default_registry().model_config("mask-inference")
    budget = Budget(steps=STEPS, batch_size=8, learning_rate=1e-3)
    data = espeak_2mix()
    default = data.train
    streams = {"as is": default}
    for rate in rates:
        codec = channel.Codec(f"opus-{rate}k", ("-c:a", "libopus", "-b:a", f"{rate}k"), "ogg")
        stream = copy.copy(default)
        stream.real = channel.coded_pool(copy.deepcopy(default.real), data.sample_rate, 1.0, 0,
                                         f"{data.name}:real-train", codecs=(codec,))
        streams[f"opus-{rate}k"] = stream
    train_variants(data, streams, seeds, results, Path(args.json),
                   lambda seed: train(config, data, budget, segment_seconds=2.0, seed=seed, progress=False))


def train_variants(data, streams: dict, seeds: list[int], results: dict, path: Path, fit) -> None:
    """Train ``fit(seed)`` on ``data`` with each training stream of ``streams`` (variant name ->
    stream) and each seed not yet in ``results["runs"]``; score every test set (SI-SDRi per
    mixture, the mean over sources) and write ``results`` to ``path`` after each run."""
    from separena.evaluation import evaluate

    default = data.train
    try:
        for seed in seeds:
            for variant, stream in streams.items():
                key = f"{variant}@seed{seed}"
                if key in results["runs"]:
                    continue
                data.train = stream
                t0 = time.perf_counter()
                model, tr = fit(seed)
                per_set = {k: [round(float(x), 3) for x in evaluate(model, v, progress=False).si_sdri.mean(1)]
                           for k, v in data.test_sets().items()}
                results["runs"][key] = {"data": data.name, "steps": tr.steps, "seed": seed, "scores": per_set,
                                        "train_seconds": round(time.perf_counter() - t0, 1)}
                print(key, {k: round(float(np.mean(v)), 2) for k, v in per_set.items()}, flush=True)
                path.write_text(json.dumps(results))
    finally:
        data.train = default


def markdown(results: dict) -> str:
    lines = ["| what | minutes | WAV 16-bit | FLAC | " + " | ".join(
        k.replace("opus-", "Opus ").replace("k", " kb/s") for k in next(iter(results["sizes"].values()))
        if k.startswith("opus")) + " |"]
    lines.append("| --- | ---: | ---: | ---: | " + " | ".join("---:" for k in next(iter(results["sizes"].values()))
                                                       if k.startswith("opus")) + " |")
    for name, row in results["sizes"].items():
        cells = [f"{row['minutes']:.0f}"] + [f"{row[k] / 2**20:.1f} MiB" for k in row if k != "minutes"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    runs = results.get("runs", {})
    if not runs:
        return "\n".join(lines)
    seeds = sorted({r["seed"] for r in runs.values()})
    lines += [""] + paired_table(runs, "real training pool")
    return "\n".join(lines) + f"\n\n(seeds {','.join(map(str, seeds))}; {STEPS} steps; limit per call " \
                              f"{LIMIT_BYTES / 2**20:.0f} MiB)"


def paired_table(runs: dict, what: str) -> list[str]:
    """Markdown rows: each variant's mean SI-SDRi per test set and its paired difference with
    ``"as is"`` (per mixture and seed), 95 % bootstrap intervals; variants missing a seed are left out."""
    from separena.bench.stats import bootstrap_interval

    seeds = sorted({r["seed"] for r in runs.values()})
    variants = list(dict.fromkeys(k.split("@")[0] for k in runs))
    sets = list(runs[f"as is@seed{seeds[0]}"]["scores"])
    lines = [f"| {what} | " + " | ".join(sets) + " | " + " | ".join(f"{s} vs as is" for s in sets) + " |",
             "| --- | " + " | ".join("---:" for _ in sets * 2) + " |"]

    def per(variant: str, name: str) -> np.ndarray:
        return np.array([runs[f"{variant}@seed{s}"]["scores"][name] for s in seeds])

    def interval(x: np.ndarray) -> str:
        iv = bootstrap_interval(x)
        return f"{iv.mean:+.2f} [{iv.low:+.2f}, {iv.high:+.2f}]"

    for variant in variants:
        if not all(f"{variant}@seed{s}" in runs for s in seeds):
            continue
        cells = [interval(per(variant, name)) for name in sets]
        cells += ["" if variant == "as is" else interval(per(variant, name) - per("as is", name)) for name in sets]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="12,16,24", help="Opus bit rates in kb/s")
    ap.add_argument("--seeds", default="0,1", help="training seeds ('' for sizes only)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default="real_pool_transport.json", help="results so far (resumed from if present)")
    ap.add_argument("--table", action="store_true", help="print the tables of docs/benchmarks/")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results: dict = json.loads(Path(args.json).read_text()) if Path(args.json).is_file() else {}
    results.setdefault("runs", {})
    rates = [int(r) for r in args.rates.split(",") if r]
    if "sizes" not in results:
        sizes(rates, results)
        Path(args.json).write_text(json.dumps(results))
    seeds = [int(s) for s in args.seeds.split(",") if s]
    if seeds:
        scores(rates, seeds, args, results)
    if args.table:
        print(markdown(results))


if __name__ == "__main__":
    main()
