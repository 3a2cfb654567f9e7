"""``separena compare A B``: two trained models (or two weights of one model) on the same test
mixtures of a suite, mixture by mixture, with the leaderboard's statistics.

Each of A and B is named in one word: a checkpoint file, a model name (its published weights;
oracles and baselines fitted to the suite's data, as the benchmark fits them), or a benchmark
run's REF in ``--store``. The difference B - A of SI-SDRi per mixture gets a 95 % bootstrap
interval and a two-sided Wilcoxon signed-rank test, Holm-corrected over the suite's test sets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from ..errors import SeparenaError
from ..registry import Registry
from .common import console, context_registry, err_console, one_line_errors
from .options import device_option, eval_mixtures_option
from .weights import looks_like_run_ref, store_option

__all__ = ["compare"]


def _side(registry: Registry, label: str, text: str, store_path: Path, device: str) -> tuple[Any, Any] | str:
    """``(config, model)`` that argument ``label`` (A or B) names, or the model name of a bracket
    (oracle or baseline) that can only be built once the data is known."""
    from ..checkpoints import load_checkpoint
    from ..presets import normalize_name
    from .weights import trained_model

    if Path(text).is_file():
        return load_checkpoint(text, registry, device=device)
    if "@" not in text and normalize_name(text) in registry.presets:
        from ..bench.published import PublishedStore, default_published_dir

        config = registry.model_config(text)
        if not config.trainable:
            return config.name
        if PublishedStore(default_published_dir()).weights_for(config.name) is None:
            raise SeparenaError(f"{label} {text}: model {config.name!r} is trainable and has no published weights; "
                                "expected a checkpoint file or a run REF (see `separena runs`)")
        return trained_model(registry, text, None, None, store_path, device)
    if looks_like_run_ref(text):
        from ..bench import ResultStore
        from ..bench.execute import load_run_weights

        if not store_path.is_file():
            raise SeparenaError(f"{label} {text}: not a checkpoint file or a model name, and no store {store_path} "
                                "to find it in as a run REF; expected one of those")
        with ResultStore(store_path) as store:
            return load_run_weights(store, store.resolve(text, option=label), registry, device=device)
    registry.model_config(text)  # an unknown name: the registry's one line, with suggestions
    raise SeparenaError(f"{label} {text}: expected a checkpoint file, a model name or a run REF")  # pragma: no cover


@click.command()
@click.argument("first", metavar="A")
@click.argument("second", metavar="B")
@click.option("--suite", "suite_name", default="speech-quick", show_default=True,
              help="Suite whose test sets both are scored on.")
@store_option
@device_option
@eval_mixtures_option
@click.pass_context
@one_line_errors
def compare(ctx: click.Context, first: str, second: str, suite_name: str, store_path: Path, device: str,
            eval_mixtures: int | None) -> None:
    """Compare A and B on the same test mixtures of a suite: is B better than A?

    A and B are each a checkpoint file (`separena train -o`), a model name (its published
    weights; oracles and the mixture baseline need none) or a run REF (MODEL@SUITE[:SEED] or a
    run-hash prefix, see `separena runs`). For every test set: each mean SI-SDRi with its 95 %
    interval, and the difference B - A per mixture: its mean and interval, the share of
    mixtures B wins, and a Wilcoxon signed-rank p-value (Holm-corrected over the test sets).
    """
    from ..bench.runner import fitted_config
    from ..bench.stats import bootstrap_interval, compare_pairs, holm
    from ..data import MixtureSubset
    from ..evaluation import evaluate
    from ..presets import normalize_name
    from .model import _check_serves, _suite_data

    registry = context_registry(ctx)
    if first == second:
        raise SeparenaError(f"A and B: both are {first!r}; expected two different models or weights")
    for text in (first, second):  # every check before weights are read or data built
        if not Path(text).is_file() and "@" not in text and normalize_name(text) in registry.presets:
            _check_serves(registry, registry.model_config(text), suite_name)
    sides = {text: _side(registry, label, text, store_path, device) for label, text in (("A", first), ("B", second))}
    for side in sides.values():
        _check_serves(registry, registry.model_config(side) if isinstance(side, str) else side[0], suite_name)
    _, data = _suite_data(registry, suite_name)
    models = {}
    for text, side in sides.items():
        if isinstance(side, str):
            side = fitted_config(registry, side, data.sample_rate, data.n_src)
            side = (side, side.build().to(device).eval())
        if side[1].n_src != data.n_src:
            raise SeparenaError(f"{text}: separates {side[1].n_src} sources, the data of --suite {suite_name} has "
                                f"{data.n_src}; expected a model of as many sources")
        models[text] = side[1]
    rows = []
    for set_name, mixtures in data.test_sets().items():
        scored = MixtureSubset.seeded(mixtures, eval_mixtures) if eval_mixtures else mixtures
        scores = {text: evaluate(model, scored, device=device, description=f"{text} on {set_name}",
                                 permutation_invariant=data.permutation_invariant).si_sdri.mean(1).numpy()
                  for text, model in models.items()}
        a, b = scores[first], scores[second]
        test = compare_pairs({"b": b, "a": a})[0]  # (b - a)
        rows.append((set_name, len(scored), bootstrap_interval(a), bootstrap_interval(b),
                     bootstrap_interval(b - a), test))
    adjusted = holm([row[-1].p_value for row in rows])
    title = f"{escape(second)} (B) against {escape(first)} (A) on {data.name}"
    table = Table(title=title)
    for column in ("set", "mixtures", "A: SI-SDRi (dB) [95 %]", "B: SI-SDRi (dB) [95 %]", "B - A (dB) [95 %]",
                   "B wins", "p (Holm)", "verdict"):
        table.add_column(column)
    for (set_name, n, a, b, diff, test), p in zip(rows, adjusted):
        verdict = ("no detectable difference" if p >= 0.05 else "B better" if diff.mean > 0 else "A better")
        table.add_row(set_name, str(n), _interval(a), _interval(b), _interval(diff),
                      f"{test.win_rate:.0%}", f"{p:.2g}", verdict)
    console.print(table)
    if any(row[1] < 20 for row in rows):
        err_console.print("note: fewer than 20 mixtures in a set: only large differences can be detected")


def _interval(interval: Any) -> str:
    return f"{interval.mean:.2f} [{interval.low:.2f}, {interval.high:.2f}]"
