"""Which training-data choices of ``espeak-2mix`` teach separation of unseen and of real voices?

At a fixed budget in optimizer *steps* (fair under a varying machine load), the default
mask-inference preset (``default_registry().model_config("mask-inference")``: BLSTM 2x128,
PIT negative SI-SDR) is trained once per data choice and seed with the core training loop and
scored with ``separena.evaluation.evaluate`` (SI-SDRi, best permutation per mixture) on every
test set of the data:

- ``test``: the 200 fixed mixtures of the 48 unseen-voice eSpeak test speakers,
- ``real-dev``: 200 mixtures of held-out real speakers of the training packages,
- ``transfer``: 200 mixtures of real speakers of packages that give training nothing
  (``separena.data.transfer``).

The oracle IRM (``oracle-irm`` of the oracle plugin) on the same sets gives the ceiling.

A choice is a set of ``espeak_2mix`` keyword arguments (the data is built by ``espeak_2mix``
itself, so a choice is exactly what a suite's ``dataset_params`` would give); "voices-60"
trains on the first 60 of the 600 eSpeak training speakers. 550 steps is ``speech-quick``'s
budget for mask-inference (1.2 TMACs at batch 8, 2-s crops); 2750 is five times that. Per-mixture
scores of every run go to a JSON file (``--json``, resumed from: run choices and seeds in
several invocations); ``--table`` prints the tables of ``docs/benchmarks/data_ablation.md``
with 95 % bootstrap intervals over seeds and mixtures (``separena.bench.stats``).

Usage::

    python benchmarks/data_ablation.py [--steps 550] [--batch 8] [--seeds 0,1] [--only default,tts-0.25] \
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

ESPEAK_ONLY = {"real_fraction": 0.0}
# name -> (espeak_2mix keyword arguments that differ from its defaults, eSpeak training voices (None: all))
CHOICES: dict[str, tuple[dict, int | None]] = {
    # the first ablation (eSpeak-only stream as the reference; it chose real_fraction=0.5)
    "base": (ESPEAK_ONLY, None),
    "voices-60": (ESPEAK_ONLY, 60),
    "no-augment": ({**ESPEAK_ONLY, "augment": False}, None),
    "speed-off": ({**ESPEAK_ONLY, "speed": 0.0}, None),
    "eq-off": ({**ESPEAK_ONLY, "eq": 0.0}, None),
    "band-limit-off": ({**ESPEAK_ONLY, "band_limit": 0.0}, None),
    "noise-off": ({**ESPEAK_ONLY, "noise": 0.0}, None),
    "gain-off": ({**ESPEAK_ONLY, "gain_db": 0.0}, None),
    "reverb-0.5": ({**ESPEAK_ONLY, "reverb": 0.5}, None),
    "real-0.25": ({"real_fraction": 0.25}, None),
    "real-0.5": ({"real_fraction": 0.5}, None),
    "real-0.5+reverb-0.5": ({"real_fraction": 0.5, "reverb": 0.5}, None),
    "real-1.0": ({"real_fraction": 1.0}, None),
    # the transfer ablation (today's defaults as the reference)
    "default": ({}, None),
    "real-0.5+tts-0.25": ({"real_fraction": 0.5, "tts_fraction": 0.25}, None),
    "real-0.5+tts-0.5": ({"real_fraction": 0.5, "tts_fraction": 0.5}, None),
    "real-0.25+tts-0.5": ({"real_fraction": 0.25, "tts_fraction": 0.5}, None),
    "real-0.25+tts-0.25": ({"real_fraction": 0.25, "tts_fraction": 0.25}, None),
    "tts-0.5": ({"real_fraction": 0.0, "tts_fraction": 0.5}, None),
    "codec-0.3": ({"codec": 0.3}, None),
    "codec-0.6": ({"codec": 0.6}, None),
    "compression-0.3": ({"compression": 0.3}, None),
    "compression-0.6": ({"compression": 0.6}, None),
    "tts+channel": ({"real_fraction": 0.5, "tts_fraction": 0.25, "codec": 0.3, "compression": 0.3}, None),
    "augment-off": ({"augment": False}, None),
    "level-6": ({"level_db": 6.0}, None),
    "reverb-0.3": ({"reverb": 0.3}, None),
    "band-limit-0": ({"band_limit": 0.0}, None),
    # voices close in pitch (docs/benchmarks/pitch_gap.md: the hard pairs on real speech)
    "pitch-0.5": ({"pitch_matched": 0.5}, None),
    "pitch-0.2": ({"pitch_matched": 0.2}, None),
}


def _subset(pool, n_speakers: int):
    """The first ``n_speakers`` speakers of a training pool (utterances grouped by speaker)."""
    n_utt = int(np.searchsorted(pool.speaker_of, n_speakers))
    end = int(pool.offsets[n_utt - 1] + pool.lengths[n_utt - 1])
    return replace(pool, audio=pool.audio[:end], offsets=pool.offsets[:n_utt], lengths=pool.lengths[:n_utt],
                   speaker_of=pool.speaker_of[:n_utt], speakers=pool.speakers[:n_speakers])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=550)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seeds", default="0", help="comma-separated training seeds")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default="", help="comma-separated choices (default: all)")
    ap.add_argument("--json", default="data_ablation.json", help="scores so far (resumed from if present)")
    ap.add_argument("--table", action="store_true", help="print the tables of docs/benchmarks/data_ablation.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results: dict = json.loads(Path(args.json).read_text()) if Path(args.json).is_file() else {}
    results.setdefault("runs", {})
    names = [n for n in args.only.split(",") if n] or ([] if args.table else list(CHOICES))
    unknown = sorted(set(names) - set(CHOICES))
    if unknown:
        raise SystemExit(f"data_ablation: unknown choice(s) {unknown}; expected some of {sorted(CHOICES)}")
    if names:
        run_choices(names, [int(s) for s in args.seeds.split(",")], args, results)
    if args.table:
        print(markdown_tables(results))


def run_choices(names: list[str], seeds: list[int], args: argparse.Namespace, results: dict) -> None:
    import separena
    from separena.data.speech import espeak_2mix
    from separena.evaluation import evaluate
    from separena.specs import Budget
    from separena.train import train

    reg = separena.default_registry()
    config = reg.model_config("mask-inference")
    budget = Budget(steps=args.steps, batch_size=args.batch, learning_rate=1e-3)
    for name in names:
        opts, voices = CHOICES[name]
        todo = [s for s in seeds if f"{name}@seed{s}@steps{args.steps}" not in results["runs"]]
        if not todo:
            continue
        data = espeak_2mix(**opts)
        sets = data.test_sets()
        if "oracle-irm" not in results:
            oracle = reg.model_config("oracle-irm").build()
            results["oracle-irm"] = {k: evaluate(oracle, v, progress=False).si_sdri.mean(1).tolist()
                                     for k, v in sets.items()}
        if voices:
            data.train = _with_pool(data.train, voices)
        for seed in todo:
            load0 = os.getloadavg()[0]
            t0, c0 = time.perf_counter(), time.process_time()
            model, tr = train(config, data, budget, segment_seconds=2.0, seed=seed, progress=False)
            train_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
            scores = {k: evaluate(model, v, progress=False).si_sdri.mean(1).tolist() for k, v in sets.items()}
            run = {"choice": name, "options": opts, "voices": voices or len(data.train.pool.speakers),
                   "data": data.name, "steps": tr.steps, "seed": seed, "train_seconds": round(train_s, 1),
                   "train_cpu_seconds": round(cpu_s, 1), "load": [round(load0, 2), round(os.getloadavg()[0], 2)],
                   "final_loss": round(float(np.mean(tr.losses[-50:])), 2), "scores": scores}
            results["runs"][f"{name}@seed{seed}@steps{args.steps}"] = run
            print(name, seed, {k: round(float(np.mean(v)), 2) for k, v in scores.items()}, f"{train_s:.0f} s",
                  flush=True)
            Path(args.json).write_text(json.dumps(results))
        del data
    results["machine"] = {"cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
                          "threads": args.threads, "peak_rss_gb": round(resource.getrusage(
                              resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)}
    Path(args.json).write_text(json.dumps(results))


def _with_pool(stream, voices: int):
    """``stream`` (a SpeakerMixtureStream) reading only the first ``voices`` eSpeak speakers."""
    stream.pool = _subset(stream.pool, voices)
    stream._first_utt = np.searchsorted(stream.pool.speaker_of, np.arange(voices + 1)).astype(np.int64)
    stream.audio = torch.from_numpy(stream.pool.audio)
    return stream


def markdown_tables(results: dict) -> str:
    """One table per step budget: each choice's mean SI-SDRi over seeds and mixtures with its
    95 % bootstrap interval (seeds and mixtures resampled), per test set, and the change on
    ``transfer`` against ``default`` (paired per mixture and seed) where both ran."""
    from separena.bench.stats import bootstrap_interval

    sets = ("test", "real-dev", "transfer")
    by_budget: dict[int, dict[str, list[dict]]] = {}
    for run in results["runs"].values():
        if "scores" in run:  # runs of the first ablation kept only summaries
            by_budget.setdefault(run["steps"], {}).setdefault(run["choice"], []).append(run)
    out = []
    for steps in sorted(by_budget):
        choices = by_budget[steps]
        out += [f"### {steps} steps", "",
                "| data choice (espeak_2mix arguments) | seeds | test | real-dev | transfer | "
                "transfer vs default | train s (CPU s) |",
                "| --- | --- | --- | --- | --- | --- | --- |"]
        ref = {r["seed"]: r for r in choices.get("default", [])}
        for name, runs in sorted(choices.items(), key=lambda kv: (kv[0] != "default", kv[0])):
            runs = sorted(runs, key=lambda r: r["seed"])
            cells = []
            for s in sets:
                iv = bootstrap_interval(np.array([r["scores"][s] for r in runs]))
                cells.append(f"{iv.mean:+.2f} [{iv.low:+.2f}, {iv.high:+.2f}]")
            paired = [r for r in runs if r["seed"] in ref]
            if name != "default" and paired:
                diff = np.array([np.subtract(r["scores"]["transfer"], ref[r["seed"]]["scores"]["transfer"])
                                 for r in paired])
                iv = bootstrap_interval(diff)
                delta = f"{iv.mean:+.2f} [{iv.low:+.2f}, {iv.high:+.2f}]"
            else:
                delta = ""
            opts = ", ".join(f"{k}={v}" for k, v in runs[0]["options"].items()) or "defaults"
            seeds = ",".join(str(r["seed"]) for r in runs)
            wall, cpu = (np.mean([r[k] for r in runs]) for k in ("train_seconds", "train_cpu_seconds"))
            secs = f"{wall:.0f} ({cpu:.0f})"
            out.append(f"| {name}: {opts} | {seeds} | {' | '.join(cells)} | {delta} | {secs} |")
        if "oracle-irm" in results:
            o = results["oracle-irm"]
            out.append("| oracle IRM (no training) | | " + " | ".join(f"{np.mean(o[s]):+.2f}" for s in sets) + " | | |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    main()
