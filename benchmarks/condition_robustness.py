"""Does training in a condition pay? Each model of ``speech-quick`` as trained in each condition
(its run of that condition's suite: by default ``speech-quick``, clean, and ``speech-noisy``,
over background noise), scored on every condition's evaluation sets (test, real-dev,
transfer), and any other suite's runs given with ``--trained``.

    separena bench --suite speech-noisy --store results/bench.sqlite
    python benchmarks/condition_robustness.py --store results/bench.sqlite [--eval-mixtures N] [--json out.json]
    # multi-condition training (noise in half of the training mixtures) beside them:
    separena --registry benchmarks/noise_fraction.yaml bench --suite speech-noisy-half --store results/bench.sqlite
    SEPARENA_REGISTRY=benchmarks/noise_fraction.yaml python benchmarks/condition_robustness.py \
        --trained half=speech-noisy-half --models mask-inference chimera-pp-small conv-tasnet-small dprnn-tasnet-small
    # rooms instead of noise:
    python benchmarks/condition_robustness.py --conditions clean=speech-quick reverb=speech-reverb

Runs are looked up in ``--store``, then among the published runs. Prints Markdown tables: mean
SI-SDRi with 95 % bootstrap intervals over mixtures, and the change each other training brings
against the first condition's on each set (paired per mixture).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

CONDITIONS = ("clean=speech-quick", "noisy=speech-noisy")  # a condition -> the suite of its data and runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=Path("results/bench.sqlite"))
    parser.add_argument("--eval-mixtures", type=int, default=None, help="mixtures per set (default: all)")
    parser.add_argument("--models", nargs="*", default=None, help="default: speech-quick's")
    parser.add_argument("--json", type=Path, default=None, help="write every per-mixture score here")
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS), metavar="LABEL=SUITE",
                        help="trained on and scored on these suites' data; the first is the baseline")
    parser.add_argument("--trained", action="append", default=[], metavar="LABEL=SUITE",
                        help="also the runs of this suite (repeatable)")
    args = parser.parse_args()
    conditions = dict(item.split("=", 1) for item in args.conditions)
    trained = dict(conditions, **dict(item.split("=", 1) for item in args.trained))

    from separena import default_registry
    from separena.cli.weights import trained_model
    from separena.data import MixtureSubset
    from separena.errors import SeparenaError
    from separena.evaluation import evaluate

    registry = default_registry()
    models = args.models or list(registry.suite("speech-quick").models)
    data = {cond: registry.suite_data(suite) for cond, suite in conditions.items()}
    scores: dict = {}
    for model_name in models:
        for label, suite in trained.items():
            try:
                # the store's run, else the published one (as --run finds it)
                _, model = trained_model(registry, model_name, None, f"{model_name}@{suite}", args.store, "cpu")
            except SeparenaError as exc:  # e.g. a suite that trains only some of the models
                print(f"{model_name} trained {label}: skipped ({exc})", flush=True)
                continue
            for cond, d in data.items():
                for set_name, examples in d.test_sets().items():
                    chosen = MixtureSubset.seeded(examples, args.eval_mixtures or len(examples))
                    result = evaluate(model, chosen, progress=False)
                    per_mix = result.si_sdri.mean(1).numpy()
                    scores.setdefault(model_name, {}).setdefault(label, {})[f"{cond}/{set_name}"] = per_mix.tolist()
                    print(f"{model_name} trained {label}, {cond} {set_name}: {per_mix.mean():.2f} dB", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"data": {c: d.name for c, d in data.items()}, "scores": scores}))
    print(markdown(scores, baseline=next(iter(conditions))))


def markdown(scores: dict, baseline: str = "clean") -> str:
    from separena.bench.stats import bootstrap_interval

    def cell(x: list[float]) -> str:
        iv = bootstrap_interval(np.asarray(x))
        return f"{iv.mean:.2f} [{iv.low:.2f}, {iv.high:.2f}]"

    sets = list(next(iter(next(iter(scores.values())).values())))
    lines = ["| model | trained | " + " | ".join(sets) + " |", "| --- | --- |" + " --- |" * len(sets)]
    for model, by in scores.items():
        for label, row in by.items():
            lines.append(f"| {model} | {label} | " + " | ".join(cell(row[s]) for s in sets) + " |")
        for label in (x for x in by if x != baseline and baseline in by):
            diff = {s: np.asarray(by[label][s]) - np.asarray(by[baseline][s]) for s in sets}
            lines.append(f"| {model} | {label} - {baseline} | " + " | ".join(cell(diff[s]) for s in sets) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
