"""Which training-data choices of ``espeak-2mix`` teach separation of unseen and of real voices?

At a fixed budget in optimizer *steps* (fair under a varying machine load), the default
mask-inference preset (``default_registry().model_config("mask-inference")``: BLSTM 2x128,
PIT negative SI-SDR) is trained once per data choice with the core training loop and scored
with ``separena.evaluation.evaluate`` (SI-SDRi, best permutation per mixture) on

- ``test``: the 200 fixed mixtures of the 48 unseen-voice eSpeak test speakers of the default
  ``espeak-2mix`` build, and
- ``real-dev``: the 200 mixtures of held-out real recorded speakers (``separena.data.real``).

The oracle IRM (``oracle-irm`` of the oracle plugin) on both sets gives the ceiling.

Every choice shares the default eSpeak build (600 training voices) and changes only the
training stream, exactly as the ``espeak_2mix`` parameter of the same name does
(``separena.data.speech.train_stream``); "60 voices" trains on the first 60 of the 600
training speakers (so also 10x fewer minutes). Keeps every score in a JSON file (``--json``,
resumed from: run choices in several invocations) and prints the table of
``docs/benchmarks/data_ablation.md`` (``--table``).

Usage::

    python benchmarks/data_ablation.py [--steps 600] [--batch 8] [--seed 0] [--only base,real-0.5] \
        [--json data_ablation.json] [--table]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]

# name -> (espeak_2mix stream options that differ from the eSpeak-only augmented reference,
#          training voices (None: all 600))
BASE = {"augment": True, "speed": 0.10, "eq": 0.8, "band_limit": 0.4, "noise": 0.5, "gain_db": 6.0,
        "level_db": 2.5, "reverb": 0.0, "real_fraction": 0.0}
CHOICES: dict[str, tuple[dict, int | None]] = {
    "base": ({}, None),
    "voices-60": ({}, 60),
    "no-augment": ({"augment": False}, None),
    "speed-off": ({"speed": 0.0}, None),
    "eq-off": ({"eq": 0.0}, None),
    "band-limit-off": ({"band_limit": 0.0}, None),
    "noise-off": ({"noise": 0.0}, None),
    "gain-off": ({"gain_db": 0.0}, None),
    "reverb-0.5": ({"reverb": 0.5}, None),
    "real-0.25": ({"real_fraction": 0.25}, None),
    "real-0.5": ({"real_fraction": 0.5}, None),
    "real-0.5+reverb-0.5": ({"real_fraction": 0.5, "reverb": 0.5}, None),
    "real-1.0": ({"real_fraction": 1.0}, None),
}


def _subset(pool, n_speakers: int):
    """The first ``n_speakers`` speakers of a training pool (utterances grouped by speaker)."""
    n_utt = int(np.searchsorted(pool.speaker_of, n_speakers))
    end = int(pool.offsets[n_utt - 1] + pool.lengths[n_utt - 1])
    return replace(pool, audio=pool.audio[:end], offsets=pool.offsets[:n_utt], lengths=pool.lengths[:n_utt],
                   speaker_of=pool.speaker_of[:n_utt], speakers=pool.speakers[:n_speakers])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default="", help="comma-separated choices (default: all)")
    ap.add_argument("--json", default="data_ablation.json", help="scores so far (resumed from if present)")
    ap.add_argument("--table", action="store_true", help="print the markdown table of docs/benchmarks/data_ablation.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    import separena
    from separena.data import real as real_mod
    from separena.data.augment import rir_bank
    from separena.data.pool import joined_pool
    from separena.data.speech import default_cache_dir, espeak_2mix, train_stream
    from separena.specs import Budget
    from separena.evaluation import evaluate
    from separena.train import train

    names = [n for n in args.only.split(",") if n] or list(CHOICES)
    reg = separena.default_registry()
    data = espeak_2mix(real_fraction=0.0, reverb=0.0, real_dev_set=True)
    sets = data.test_sets()
    pool, sr = data.train.pool, data.sample_rate
    needs_real = any(CHOICES[n][0].get("real_fraction", 0) > 0 for n in names)
    needs_rir = any(CHOICES[n][0].get("reverb", 0) > 0 for n in names)
    real_pool = joined_pool(real_mod.real_speech_pool("train", sr), sr, 0) if needs_real else None
    rirs = rir_bank(0, sr, default_cache_dir()) if needs_rir else None
    results: dict = json.loads(Path(args.json).read_text()) if Path(args.json).is_file() else {}
    results.setdefault("runs", {})
    if "oracle-irm" not in results:
        oracle = reg.model_config("oracle-irm").build()
        results["oracle-irm"] = {k: evaluate(oracle, v, progress=False).summary() for k, v in sets.items()}
        print("oracle-irm", results["oracle-irm"], flush=True)
    config = reg.model_config("mask-inference")
    budget = Budget(steps=args.steps, batch_size=args.batch, learning_rate=1e-3)
    for name in names:
        opts, voices = CHOICES[name]
        stream = {**BASE, **opts}
        p = _subset(pool, voices) if voices else pool
        data.train = train_stream(p, sr, stream, real_pool if stream["real_fraction"] > 0 else None,
                                  rirs if stream["reverb"] > 0 else None)
        load0 = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), time.process_time()
        model, tr = train(config, data, budget, segment_seconds=2.0, seed=args.seed, progress=False)
        train_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
        scores = {k: evaluate(model, v, progress=False).summary() for k, v in sets.items()}
        run = {"options": opts, "voices": voices or len(pool.speakers), "steps": tr.steps, "seed": args.seed,
               "train_seconds": round(train_s, 1), "train_cpu_seconds": round(cpu_s, 1),
               "load": [round(load0, 2), round(os.getloadavg()[0], 2)],
               "final_loss": round(float(np.mean(tr.losses[-50:])), 2), **scores}
        results["runs"][f"{name}@seed{args.seed}"] = run
        print(name, json.dumps(run), flush=True)
        Path(args.json).write_text(json.dumps(results, indent=1))
    results["machine"] = {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
                          "threads": args.threads, "peak_rss_gb": round(resource.getrusage(
                              resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)}
    Path(args.json).write_text(json.dumps(results, indent=1))
    if args.table:
        print(markdown_table(results))


def markdown_table(results: dict) -> str:
    o = results["oracle-irm"]
    lines = [
        "| data choice (espeak_2mix params) | voices | steps | seed | test SI-SDRi (median, s.e.) | "
        "real-dev SI-SDRi (median, s.e.) | train s (CPU s) | load avg |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, r in results["runs"].items():
        opts = ", ".join(f"{k}={v}" for k, v in r["options"].items()) or "defaults, real_fraction=0, reverb=0"
        t, d = r["test"], r["real-dev"]
        lines.append(f"| {key.split('@')[0]}: {opts} | {r['voices']} | {r['steps']} | {r['seed']} | "
                     f"{t['mean']:+.2f} ({t['median']:+.2f}, {t['se']:.2f}) | "
                     f"{d['mean']:+.2f} ({d['median']:+.2f}, {d['se']:.2f}) | "
                     f"{r['train_seconds']:.0f} ({r['train_cpu_seconds']:.0f}) | {r['load'][0]}–{r['load'][1]} |")
    lines.append(f"| oracle IRM (no training) | | | | {o['test']['mean']:+.2f} ({o['test']['median']:+.2f}, "
                 f"{o['test']['se']:.2f}) | {o['real-dev']['mean']:+.2f} ({o['real-dev']['median']:+.2f}, "
                 f"{o['real-dev']['se']:.2f}) | | |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
