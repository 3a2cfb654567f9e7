"""Does training with background noise pay? Each model of ``speech-quick`` as trained clean (its
``speech-quick`` run) and as trained over noise (its ``speech-noisy`` run), scored on the clean
and on the noisy evaluation sets (test, real-dev, transfer).

    separena bench --suite speech-noisy --store results/bench.sqlite
    python benchmarks/noise_robustness.py --store results/bench.sqlite [--eval-mixtures N] [--json out.json]

Runs are looked up in ``--store``, then among the published runs. Prints Markdown tables: mean
SI-SDRi with 95 % bootstrap intervals over mixtures, and the change that training over noise
brings on each set (paired per mixture, same weights otherwise compared on the same mixtures).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

SUITES = {"clean": "speech-quick", "noisy": "speech-noisy"}  # how a model was trained -> its suite


def load_run(ref: str, store_path: Path, registry):
    """The model of run ``ref`` (``MODEL@SUITE``): in the store, else published."""
    from separena.bench import ResultStore
    from separena.bench.execute import load_run_weights
    from separena.bench.published import PublishedStore, default_published_dir
    from separena.errors import SeparenaError

    if store_path.is_file():
        with ResultStore(store_path) as store:
            try:
                return load_run_weights(store, store.resolve(ref, "run"), registry)[1]
            except SeparenaError:
                pass
    published = PublishedStore(default_published_dir())
    return load_run_weights(published, published.resolve(ref, "run"), registry)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=Path("results/bench.sqlite"))
    parser.add_argument("--eval-mixtures", type=int, default=None, help="mixtures per set (default: all)")
    parser.add_argument("--models", nargs="*", default=None, help="default: speech-quick's")
    parser.add_argument("--json", type=Path, default=None, help="write every per-mixture score here")
    args = parser.parse_args()

    from separena import default_registry
    from separena.data import MixtureSubset
    from separena.evaluation import evaluate

    registry = default_registry()
    models = args.models or list(registry.suite("speech-quick").models)
    data = {cond: registry.suite_data(suite) for cond, suite in SUITES.items()}
    scores: dict = {}
    for model_name in models:
        for trained, suite in SUITES.items():
            model = load_run(f"{model_name}@{suite}", args.store, registry)
            for cond, d in data.items():
                for set_name, examples in d.test_sets().items():
                    chosen = MixtureSubset.seeded(examples, args.eval_mixtures or len(examples))
                    result = evaluate(model, chosen, progress=False)
                    per_mix = result.si_sdri.mean(1).numpy()
                    scores.setdefault(model_name, {}).setdefault(trained, {})[f"{cond}/{set_name}"] = per_mix.tolist()
                    print(f"{model_name} trained {trained}, {cond} {set_name}: {per_mix.mean():.2f} dB", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"data": {c: d.name for c, d in data.items()}, "scores": scores}))
    print(markdown(scores))


def markdown(scores: dict) -> str:
    from separena.bench.stats import bootstrap_interval

    def cell(x: list[float]) -> str:
        iv = bootstrap_interval(np.asarray(x))
        return f"{iv.mean:.2f} [{iv.low:.2f}, {iv.high:.2f}]"

    sets = list(next(iter(next(iter(scores.values())).values())))
    lines = ["| model | trained | " + " | ".join(sets) + " |", "| --- | --- |" + " --- |" * len(sets)]
    for model, by in scores.items():
        for trained, row in by.items():
            lines.append(f"| {model} | {trained} | " + " | ".join(cell(row[s]) for s in sets) + " |")
        diff = {s: np.asarray(by["noisy"][s]) - np.asarray(by["clean"][s]) for s in sets}
        lines.append(f"| {model} | noisy - clean | " + " | ".join(cell(diff[s]) for s in sets) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
