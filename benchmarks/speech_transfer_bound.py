"""How far can training data move the speech ``transfer`` split at ``speech-quick``'s budget?

A bound, not a data choice: ``mask-inference`` (550 steps, batch 8, 2-s crops, as
``benchmarks/data_ablation.py``) is trained on today's default ``espeak_2mix`` data, and on
the same data with half of the transfer speakers themselves added to the real recorded
training speakers (alternating in sorted order, so both packages are in both halves), and with
that half as the only real speakers (the default's 50 % real share of sources all theirs). All
models are scored on ``test``, ``real-dev``, the full ``transfer`` split, and on 200 fixed
mixtures of the *other* half of the transfer speakers only (drawn as the split draws its
mixtures). No training data can be closer to those speakers than their own packages,
recording set-ups and languages, so the gain on that half bounds what data alone buys at this
budget.

Scores per mixture go to ``--json`` (resumed from); ``--table`` prints the table of
``docs/benchmarks/data_ablation.md``.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/speech_transfer_bound.py [--seeds 0,1] [--json speech_transfer_bound.json] [--table]
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch

STEPS = 550
HALF = "transfer (second half)"
# default: today's data; +half-transfer: the first half of the transfer speakers join the 45 real
# training speakers; half-transfer-as-real: they replace them (the real share of sources, 50 %,
# is all theirs)
VARIANTS = ("default", "default+half-transfer", "half-transfer-as-real")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default="speech_transfer_bound.json", help="scores so far (resumed from if present)")
    ap.add_argument("--table", action="store_true", help="print the table of docs/benchmarks/data_ablation.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results: dict = json.loads(Path(args.json).read_text()) if Path(args.json).is_file() else {}
    results.setdefault("runs", {})
    seeds = [int(s) for s in args.seeds.split(",") if s]
    if seeds:
        run(seeds, args, results)
    if args.table:
        print(markdown_table(results))


def run(seeds: list[int], args: argparse.Namespace, results: dict) -> None:
    import separena
    from separena.data import TensorMixtureSet, real, transfer
    from separena.data.pool import joined_pool
    from separena.data.speech import espeak_2mix
    from separena.evaluation import evaluate
    from separena.specs import Budget
    from separena.train import train

    config = separena.default_registry().model_config("mask-inference")
    budget = Budget(steps=STEPS, batch_size=8, learning_rate=1e-3)
    data = espeak_2mix()
    sr = data.sample_rate
    utts = transfer.transfer_pool(sr)
    speakers = sorted({u.speaker for u in utts})
    first, second = speakers[0::2], speakers[1::2]
    held = list(real._mixtures([u for u in utts if u.speaker in second], 200, 4.0, sr, 0, HALF))
    sets = {**data.test_sets(), HALF: TensorMixtureSet([e.mix for e in held], [e.sources for e in held],
                                                       [e.name for e in held])}
    results["halves"] = {"trained on": first, "scored on": second}
    half = [u for u in utts if u.speaker in first]
    with_half, only_half = copy.copy(data.train), copy.copy(data.train)
    with_half.real = joined_pool(real.real_speech_pool("train", sr) + half, sr, 0)
    only_half.real = joined_pool(half, sr, 0)
    for seed in seeds:
        for variant, stream in (("default", data.train), ("default+half-transfer", with_half),
                                ("half-transfer-as-real", only_half)):
            key = f"{variant}@seed{seed}"
            if key in results["runs"]:
                continue
            data.train = stream
            t0 = time.perf_counter()
            model, tr = train(config, data, budget, segment_seconds=2.0, seed=seed, progress=False)
            scores = {k: [round(float(x), 3) for x in evaluate(model, v, progress=False).si_sdri.mean(1)]
                      for k, v in sets.items()}
            results["runs"][key] = {"data": data.name, "steps": tr.steps, "seed": seed, "scores": scores,
                                    "real_speakers": len(stream.real.speakers),
                                    "train_seconds": round(time.perf_counter() - t0, 1)}
            print(key, {k: round(float(np.mean(v)), 2) for k, v in scores.items()}, flush=True)
            Path(args.json).write_text(json.dumps(results))


def markdown_table(results: dict) -> str:
    """Both variants per set (seeds pooled, 95 % bootstrap intervals) and the paired gain."""
    from separena.bench.stats import bootstrap_interval

    runs = results["runs"]
    seeds = sorted({r["seed"] for r in runs.values()})
    sets = list(runs[f"default@seed{seeds[0]}"]["scores"])
    lines = ["| training data | " + " | ".join(sets) + " |", "| --- | " + " | ".join("---:" for _ in sets) + " |"]

    def scores(variant: str, name: str) -> np.ndarray:
        return np.array([runs[f"{variant}@seed{s}"]["scores"][name] for s in seeds])

    for variant in VARIANTS:
        cells = []
        for name in sets:
            iv = bootstrap_interval(scores(variant, name))
            cells.append(f"{iv.mean:+.2f} [{iv.low:+.2f}, {iv.high:+.2f}]")
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    for variant in VARIANTS[1:]:
        cells = []
        for name in sets:
            iv = bootstrap_interval(scores(variant, name) - scores("default", name))
            cells.append(f"{iv.mean:+.2f} [{iv.low:+.2f}, {iv.high:+.2f}]")
        lines.append(f"| {variant} − default (paired) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\n(seeds {','.join(map(str, seeds))}; {STEPS} steps; trained on the transfer " \
        f"speakers {', '.join(results['halves']['trained on'])}; scored on {', '.join(results['halves']['scored on'])})"


if __name__ == "__main__":
    main()
