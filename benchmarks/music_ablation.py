"""Which training-data ingredients of ``midi-4stem`` make music separation transfer?

At ``music-quick``'s deterministic budget (2.5 TMACs of training, batch 8 x 2 s, learning
rate 1e-3: the trainer turns the MAC budget into a fixed step count, 601 steps for
``open-unmix-small``), the ``open-unmix-small`` preset is trained once per data choice and
seed with the core training loop and scored with ``separena.evaluation.evaluate`` (SI-SDRi,
fixed stem order) on

- ``test``: the 40 fixed test pieces of the build (the generator's held-out programs and
  patterns, FluidR3_GM; identical in every choice: the ingredients change training pieces only),
- ``transfer``: the excerpts of human-composed songs rendered with a soundfont no training
  choice uses (``separena.data.music_transfer``).

Each choice is a set of ``midi_4stem`` parameters (:data:`CHOICES`); "today" is the data
``music-quick`` trained on before the ingredients existed. Intervals are 95 % percentile
bootstrap intervals of the mean (``separena.bench.stats.bootstrap_interval``) over mixtures
and the seeds together. Keeps every score (per mixture) in a JSON file (``--json``, resumed
from: run choices in several invocations) and prints the table of
``docs/benchmarks/music_ablation.md`` (``--table``).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/music_ablation.py [--seeds 0,1] [--only today,all] \
        [--json music_ablation.json] [--table]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

FONTS = ("fluidr3", "timgm6mb", "fluidr3mono", "opl3")
# name -> midi_4stem parameters that differ from "today": the data music-quick trained on before
# the ingredients existed (FluidR3_GM for every part, basic writing, no production)
TODAY = {"soundfonts": (), "drum_samples": 0.0, "humanise": 0.0, "effects": 0.0, "bus": 0.0,
         "writing": "basic"}
CHOICES: dict[str, dict] = {
    "today": {},
    "soundfonts": {"soundfonts": FONTS},
    "drum-samples": {"drum_samples": 0.5},
    "humanise+effects": {"humanise": 1.0, "effects": 1.0, "bus": 0.5},
    "writing": {"writing": "varied"},
    "soundfonts+writing": {"soundfonts": FONTS, "writing": "varied"},
    "soundfonts+drum-samples+writing": {"soundfonts": FONTS, "drum_samples": 0.5, "writing": "varied"},
    "soundfonts+humanise": {"soundfonts": FONTS, "humanise": 0.5},
    "soundfonts+light-effects": {"soundfonts": FONTS, "effects": 0.3, "bus": 0.2},
    "all": {"soundfonts": FONTS, "drum_samples": 0.5, "humanise": 1.0, "effects": 1.0, "bus": 0.5,
            "writing": "varied"},
    # more training pieces (120 by default): each piece draws its own soundfont per part, so the
    # pool's timbre combinations grow with them
    "soundfonts+pieces-360": {"soundfonts": FONTS, "n_train": 360},
    "soundfonts+pieces-360+writing": {"soundfonts": FONTS, "n_train": 360, "writing": "varied"},
    "soundfonts+effects": {"soundfonts": FONTS, "effects": 1.0, "bus": 0.5},
    # a fifth timbre source: freepats' sampled instruments, played with TiMidity++
    "soundfonts+freepats": {"soundfonts": FONTS + ("freepats",)},
    # how often a training item mixes stems of different pieces (0.5 by default)
    "soundfonts+remix-1": {"soundfonts": FONTS, "remix": 1.0},
    "soundfonts+remix-0": {"soundfonts": FONTS, "remix": 0.0},
}
MODEL = "open-unmix-small"
SUITE = "music-quick"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default="", help="comma-separated choices (default: all)")
    ap.add_argument("--json", default="music_ablation.json", help="scores so far (resumed from if present)")
    ap.add_argument("--table", action="store_true", help="print the markdown table of docs/benchmarks/music_ablation.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    import separena
    from separena.data.music import midi_4stem
    from separena.evaluation import evaluate
    from separena.train import train

    reg = separena.default_registry()
    suite = reg.suite(SUITE)
    config = reg.model_config(MODEL)
    names = [n for n in args.only.split(",") if n] or list(CHOICES)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    results: dict = json.loads(Path(args.json).read_text()) if Path(args.json).is_file() else {}
    results.setdefault("runs", {})
    for name in names:
        # Only the parameters this midi_4stem has (a checkout before an ingredient still runs "today").
        known = inspect.signature(midi_4stem).parameters
        params = {k: v for k, v in {**TODAY, **CHOICES[name]}.items() if k in known}
        todo = [s for s in seeds if f"{name}@seed{s}" not in results["runs"]]
        if not todo:
            continue
        t0 = time.perf_counter()
        data = midi_4stem(**params, progress=False)
        build_s = time.perf_counter() - t0
        sets = data.test_sets()
        for seed in todo:
            load0 = os.getloadavg()[0]
            t0, c0 = time.perf_counter(), time.process_time()
            model, tr = train(config, data, suite.budget, segment_seconds=suite.segment_seconds, seed=seed,
                              progress=False)
            train_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
            scores = {k: evaluate(model, v, progress=False, permutation_invariant=False) for k, v in sets.items()}
            run = {"params": CHOICES[name], "data": data.name, "build_seconds": round(build_s, 1),
                   "steps": tr.steps, "seed": seed, "train_seconds": round(train_s, 1),
                   "train_cpu_seconds": round(cpu_s, 1), "load": [round(load0, 2), round(os.getloadavg()[0], 2)],
                   "final_loss": round(float(np.mean(tr.losses[-50:])), 3),
                   **{k: {**r.summary(), "per_mixture": [round(float(x), 3) for x in r.si_sdri.mean(1)]}
                      for k, r in scores.items()}}
            results["runs"][f"{name}@seed{seed}"] = run
            print(name, seed, {k: run[k]["mean"] for k in scores}, f"steps {tr.steps}", flush=True)
            Path(args.json).write_text(json.dumps(results, indent=1))
    results["machine"] = {"torch": torch.__version__, "threads": args.threads}
    Path(args.json).write_text(json.dumps(results, indent=1))
    if args.table:
        print(markdown_table(results))


def _transfer_packages() -> list[str]:
    """The package (short name, e.g. ``simutrans``) of every transfer excerpt, in evaluation order."""
    from separena.data import music_transfer
    from separena.data.music import transfer_kit

    folder, _ = music_transfer.transfer_set(transfer_kit(), progress=False)
    return [name.split("-")[0] for name in folder.names]


def markdown_table(results: dict) -> str:
    """One row per choice: the pooled mean over seeds with its interval per set (each seed's
    mean in brackets), the drop from test to transfer, the gain on transfer over "today" (paired
    by seed and excerpt, with its interval), and
    the transfer mean weighted per package (each package's excerpts averaged first: the set
    holds 84 Simutrans excerpts of 109)."""
    from separena.bench.stats import bootstrap_interval

    packages = np.array(_transfer_packages())
    by_choice: dict[str, list[dict]] = {}
    for key, run in results["runs"].items():
        by_choice.setdefault(key.split("@")[0], []).append(run)
    lines = ["| data choice (midi_4stem params) | steps | seeds | test SI-SDRi [95 %] (per seed) | "
             "transfer SI-SDRi [95 %] (per seed) | drop | transfer vs today [95 %] | transfer per package "
             "(" + " / ".join(sorted(set(packages))) + ") |",
             "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    base = None
    for name, runs in sorted(by_choice.items(), key=lambda kv: list(CHOICES).index(kv[0])):
        runs = sorted(runs, key=lambda r: r["seed"])
        cells, means = [], {}
        for split in ("test", "transfer"):
            scores = np.array([r[split]["per_mixture"] for r in runs])
            iv = bootstrap_interval(scores)
            means[split] = iv.mean
            per_seed = " / ".join(f"{r[split]['mean']:.2f}" for r in runs)
            cells.append(f"{iv.mean:.2f} [{iv.low:.2f}, {iv.high:.2f}] ({per_seed})")
        transfer = np.array([r["transfer"]["per_mixture"] for r in runs]).mean(0)
        per_package = " / ".join(f"{transfer[packages == p].mean():.2f}" for p in sorted(set(packages)))
        if name == "today":
            base = {r["seed"]: np.array(r["transfer"]["per_mixture"]) for r in runs}
        gain = "-"
        if base is not None and all(r["seed"] in base for r in runs):  # paired: same seed, same excerpt
            iv = bootstrap_interval(np.array([np.array(r["transfer"]["per_mixture"]) - base[r["seed"]] for r in runs]))
            gain = f"{iv.mean:+.2f} [{iv.low:+.2f}, {iv.high:+.2f}]"
        opts = ", ".join(f"{k}={v}" for k, v in runs[0]["params"].items()) or "the former default data, soundfonts=()"
        lines.append(f"| {name}: {opts} | {runs[0]['steps']} | {','.join(str(r['seed']) for r in runs)} | "
                     f"{cells[0]} | {cells[1]} | {means['test'] - means['transfer']:.2f} | {gain} | {per_package} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
