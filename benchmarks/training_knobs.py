"""Which model and training choices move mask-inference at a fixed wall-clock budget?

The issues ask for 6 dB SI-SDRi on unseen voices within 10 minutes on 2 cores; the default
preset reaches about 3 dB. This script trains the default mask-inference preset through the
core trainer (``separena.train.train``: same batches for a seed, Adam, clipping, cosine
schedule) for ``--minutes`` of wall clock, changing one choice at a time, and scores each run
with ``separena.evaluation.evaluate`` on the unseen-voice ``test`` split and on ``real-dev``.

The budget is wall clock, as in the issues, so faster steps count: run it on a quiet machine
(the load average before and after each run is recorded). Scores are kept in a JSON file
(resumed from, so variants can run in several invocations); ``--table`` prints the table of
``docs/benchmarks/training_knobs.md``.

Usage::

    python benchmarks/training_knobs.py [--minutes 3] [--only default,hidden-96] [--json knobs.json] [--table]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

# name -> (model parameter overrides, espeak_2mix options, budget/trainer options)
VARIANTS: dict[str, tuple[dict, dict, dict]] = {
    "default": ({}, {}, {}),
    "hop-64": ({"hop_length": 64}, {}, {}),  # the papers' 8 ms hop, the default until 2026-11-26
    "gru": ({"rnn_type": "gru"}, {}, {}),
    "hidden-96": ({"hidden_size": 96}, {}, {}),
    "fft-512-hop-128": ({"n_fft": 512, "hop_length": 128}, {}, {}),
    "fft-512-hop-64": ({"n_fft": 512, "hop_length": 64}, {}, {}),
    "hidden-96-fft-512-hop-128": ({"hidden_size": 96, "n_fft": 512, "hop_length": 128}, {}, {}),
    "softmax-masks": ({"mask_activation": "softmax"}, {}, {}),
    "batch-norm": ({"norm": "batch"}, {}, {}),
    "lr-3e-3": ({}, {}, {"learning_rate": 3e-3}),
    "batch-16-x-1s": ({}, {}, {"batch_size": 16, "segment_seconds": 1.0}),
    "hidden-96-batch-4": ({"hidden_size": 96}, {}, {"batch_size": 4}),
    "no-augmentation": ({}, {"augment": False}, {}),
    "no-real-sources": ({}, {"real_fraction": 0.0}, {}),
    "layers-3": ({"num_layers": 3}, {}, {}),
    "layers-4-hidden-96": ({"num_layers": 4, "hidden_size": 96}, {}, {}),
    "relu-masks": ({"mask_activation": "relu"}, {}, {}),
    "lr-2e-3": ({}, {}, {"learning_rate": 2e-3}),
    "batch-4-x-4s": ({}, {}, {"batch_size": 4, "segment_seconds": 4.0}),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated variants (default: all)")
    ap.add_argument("--json", default="training_knobs.json", help="scores so far (resumed from if present)")
    ap.add_argument("--table", action="store_true", help="print the markdown table of docs/benchmarks/training_knobs.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    import separena
    from separena.data.speech import espeak_2mix
    from separena.specs import Budget
    from separena.evaluation import evaluate
    from separena.train import train

    names = [n for n in args.only.split(",") if n] or list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"--only: unknown variant(s) {', '.join(unknown)}; expected some of {', '.join(VARIANTS)}")
    reg = separena.default_registry()
    path = Path(args.json)
    results: dict = json.loads(path.read_text()) if path.is_file() else {}
    datasets: dict[str, object] = {}  # one load per distinct data option set
    for name in names:
        overrides, data_options, train_options = VARIANTS[name]
        key = json.dumps(data_options, sort_keys=True)
        data = datasets[key] = datasets.get(key) or espeak_2mix(**data_options)
        config = reg.model_config("mask-inference", **overrides)
        budget = Budget(minutes=args.minutes, batch_size=train_options.get("batch_size", 8),
                        learning_rate=train_options.get("learning_rate", 1e-3))
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        model, run = train(config, data, budget, segment_seconds=train_options.get("segment_seconds", 2.0),
                           seed=args.seed, progress=False)
        seconds = time.perf_counter() - t0
        scores = {k: evaluate(model, v, progress=False).summary() for k, v in data.test_sets().items()}
        results[f"{name}@seed{args.seed}"] = {
            "overrides": overrides, "data": data_options, "train": train_options, "minutes": args.minutes,
            "steps": run.steps, "ms_per_step": round(1000 * seconds / max(run.steps, 1), 1),
            "load": [round(load0, 2), round(os.getloadavg()[0], 2)], **scores}
        print(name, json.dumps(results[f"{name}@seed{args.seed}"]), flush=True)
        path.write_text(json.dumps(results, indent=1))
    if args.table:
        print(markdown_table(results))


def markdown_table(results: dict) -> str:
    lines = ["| variant | minutes | steps | ms/step | test SI-SDRi (median, s.e.) | real-dev SI-SDRi (median, s.e.) "
             "| load avg |", "| --- | ---: | ---: | ---: | --- | --- | --- |"]
    for key, r in results.items():
        t, d = r["test"], r["real-dev"]
        lines.append(f"| {key} | {r['minutes']:g} | {r['steps']} | {r['ms_per_step']} | "
                     f"{t['mean']:+.2f} ({t['median']:+.2f}, {t['se']:.2f}) | "
                     f"{d['mean']:+.2f} ({d['median']:+.2f}, {d['se']:.2f}) | {r['load'][0]}–{r['load'][1]} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
