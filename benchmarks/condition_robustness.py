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
    # three seeds of each run (`separena bench --seeds 0 --seeds 1 --seeds 2`), from two stores:
    python benchmarks/condition_robustness.py --conditions clean=speech-quick reverb=speech-reverb \
        --seeds 0 1 2 --store results/quick.sqlite --store results/reverb.sqlite
    # why a model trained in a condition loses on the first condition's data (BSS Eval SIR and
    # SAR, and the estimate's level and error by frequency band, on N test mixtures):
    python benchmarks/condition_robustness.py --diagnose 100 --trained reverb=speech-reverb

Runs are looked up in each ``--store`` in turn, then among the published runs. Prints Markdown
tables: mean SI-SDRi with 95 % bootstrap intervals, and the change each other training brings
against the first condition's on each set (paired per mixture). With several seeds, each
mixture's score is every seed's, the intervals resample seeds as well as mixtures (seed *i* of
one training paired with seed *i* of the other), and each change is followed by its per-seed
values.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from separena.data import SeparationData
    from separena.registry import Registry

CONDITIONS = ("clean=speech-quick", "noisy=speech-noisy")  # a condition -> the suite of its data and runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, action="append", default=None,
                        help="result store (repeatable; default results/bench.sqlite)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of every run (default: 0)")
    parser.add_argument("--eval-mixtures", type=int, default=None, help="mixtures per set (default: all)")
    parser.add_argument("--models", nargs="*", default=None, help="default: speech-quick's")
    parser.add_argument("--json", type=Path, default=None, help="write every per-mixture score here")
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS), metavar="LABEL=SUITE",
                        help="trained on and scored on these suites' data; the first is the baseline")
    parser.add_argument("--trained", action="append", default=[], metavar="LABEL=SUITE",
                        help="also the runs of this suite (repeatable)")
    parser.add_argument("--diagnose", type=int, default=None, metavar="N",
                        help="instead: SIR, SAR and levels by band on N mixtures of the first condition's test set")
    args = parser.parse_args()
    conditions = dict(item.split("=", 1) for item in args.conditions)
    trained = dict(conditions, **dict(item.split("=", 1) for item in args.trained))

    from separena import default_registry
    from separena.data import MixtureSubset
    from separena.errors import SeparenaError
    from separena.evaluation import evaluate

    registry = default_registry()
    models = args.models or list(registry.suite("speech-quick").models)
    stores = args.store or [Path("results/bench.sqlite")]
    if args.diagnose:
        baseline = registry.suite_data(next(iter(conditions.values())))
        return diagnose(registry, models, trained, stores, args.seeds[0], baseline, args.diagnose)
    data = {cond: registry.suite_data(suite) for cond, suite in conditions.items()}
    scores: dict = {}
    for model_name in models:
        for label, suite in trained.items():
            by_set: dict[str, list[list[float]]] = {}
            for seed in args.seeds:
                try:
                    model = run_model(registry, f"{model_name}@{suite}:{seed}", stores)
                except SeparenaError as exc:  # e.g. a suite that trains only some of the models
                    print(f"{model_name} trained {label}: skipped ({exc})", flush=True)
                    break
                for cond, d in data.items():
                    for set_name, examples in d.test_sets().items():
                        chosen = MixtureSubset.seeded(examples, args.eval_mixtures or len(examples))
                        per_mix = evaluate(model, chosen, progress=False).si_sdri.mean(1).numpy()
                        by_set.setdefault(f"{cond}/{set_name}", []).append(per_mix.tolist())
                        print(f"{model_name} trained {label} seed {seed}, {cond} {set_name}: {per_mix.mean():.2f} dB",
                              flush=True)
            else:  # every seed: a training with a seed missing would not pair with the others
                scores.setdefault(model_name, {})[label] = by_set
    if args.json:
        args.json.write_text(json.dumps({"data": {c: d.name for c, d in data.items()}, "seeds": args.seeds,
                                         "scores": scores}))
    print(markdown(scores, baseline=next(iter(conditions))))


def run_model(registry: Registry, ref: str, stores: list[Path]) -> torch.nn.Module:
    """The model of run ``ref`` (``MODEL@SUITE:SEED``) from the first of ``stores`` that holds it,
    else from the published runs (as ``--run`` finds it); the last store's error if none does."""
    from separena.cli.weights import trained_model
    from separena.errors import SeparenaError

    error = None
    for store in stores:
        try:
            return trained_model(registry, ref.partition("@")[0], None, ref, store, "cpu")[1]
        except SeparenaError as exc:
            error = exc
    raise error


BANDS_HZ = (0, 250, 500, 1000, 2000)  # lower edges; the last band reaches Nyquist


def diagnose(registry: Registry, models: list[str], trained: dict[str, str], stores: list[Path], seed: int,
             data: SeparationData, n: int) -> None:
    """Each model as each condition trained it, on ``n`` test mixtures of ``data``: SI-SDRi, BSS
    Eval SIR and SAR (what of the error is the other talkers, what is artifacts), and by band
    the estimate's level against its reference and its error (``estimate - target``, the target
    the estimate's projection on its reference) against that target, energies summed over the
    mixtures before the ratio."""
    from separena.data import MixtureSubset
    from separena.errors import SeparenaError
    from separena.evaluation import evaluate
    from separena.metrics import bss_eval_sources

    examples = MixtureSubset.seeded(data.test, n)
    edges = torch.tensor([*BANDS_HZ, data.sample_rate / 2 + 1], dtype=torch.float64)

    def band_energy(x: torch.Tensor) -> torch.Tensor:  # [n_src, time] -> [bands]
        power = torch.fft.rfft(x.double(), dim=-1).abs().square().sum(0)
        freq = torch.fft.rfftfreq(x.shape[-1], 1 / data.sample_rate, dtype=torch.float64)
        return torch.stack([power[(freq >= lo) & (freq < hi)].sum() for lo, hi in zip(edges[:-1], edges[1:])])

    def db(a: torch.Tensor, b: torch.Tensor) -> str:
        return " / ".join(f"{v:+.1f}" for v in (10 * torch.log10(a / b)).tolist())

    bands = " / ".join(f"{lo:g}" for lo in BANDS_HZ) + " Hz up"
    lines = [f"{n} mixtures of {data.name} test; by band ({bands}): estimate vs reference level, error vs target",
             "", "| model | trained | SI-SDRi | SIR | SAR | level by band | error by band |", "|" + " --- |" * 7]
    for model_name in models:
        for label, suite in trained.items():
            try:
                model = run_model(registry, f"{model_name}@{suite}:{seed}", stores)
            except SeparenaError as exc:
                print(f"{model_name} trained {label}: skipped ({exc})", flush=True)
                continue
            result = evaluate(model, examples, progress=False, keep_estimates=True)
            sir, sar, energy = [], [], torch.zeros(4, len(BANDS_HZ), dtype=torch.float64)
            for ex, est in zip(examples, result.estimates):
                est, ref = est[0].double(), ex.sources.double()
                target = (est * ref).sum(-1, keepdim=True) / ref.square().sum(-1, keepdim=True) * ref
                _, sir_db, sar_db = bss_eval_sources(est, ref)
                sir.append(float(sir_db.mean()))
                sar.append(float(sar_db.mean()))
                energy += torch.stack([band_energy(x) for x in (est, ref, est - target, target)])
            row = (f"| {model_name} | {label} | {result.si_sdri.mean():.2f} | {np.mean(sir):.2f} | {np.mean(sar):.2f} "
                   f"| {db(energy[0], energy[1])} | {db(energy[2], energy[3])} |")
            print(row, flush=True)
            lines.append(row)
    print("\n".join(lines))


def markdown(scores: dict, baseline: str = "clean") -> str:
    from separena.bench.stats import bootstrap_interval

    def cell(x: np.ndarray, per_seed: bool = False) -> str:  # x: [seeds, mixtures]
        iv = bootstrap_interval(x)
        seeds = f" ({' / '.join(f'{m:+.2f}' for m in x.mean(1))})" if per_seed and len(x) > 1 else ""
        return f"{iv.mean:{'+' if per_seed else ''}.2f} [{iv.low:.2f}, {iv.high:.2f}]{seeds}"

    sets = list(next(iter(next(iter(scores.values())).values())))
    lines = ["| model | trained | " + " | ".join(sets) + " |", "| --- | --- |" + " --- |" * len(sets)]
    for model, by in scores.items():
        for label, row in by.items():
            lines.append(f"| {model} | {label} | " + " | ".join(cell(np.asarray(row[s])) for s in sets) + " |")
        for label in (x for x in by if x != baseline and baseline in by):
            diff = {s: np.asarray(by[label][s]) - np.asarray(by[baseline][s]) for s in sets}
            lines.append(f"| {model} | {label} - {baseline} | " + " | ".join(cell(diff[s], True) for s in sets)
                         + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
