"""``separena compare A B``: two trained models (or two weights of one model) on the same test
mixtures of a suite, mixture by mixture, with the leaderboard's statistics (SI-SDRi or any
registered metric).

Each of A and B is named in one word: a checkpoint file, a model name (its published weights;
oracles and baselines fitted to the suite's data, as the benchmark fits them), or a benchmark
run's REF in ``--store``. The difference B - A of the score per mixture gets a 95 % bootstrap
interval and a two-sided Wilcoxon signed-rank test, Holm-corrected over the suite's test sets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np
from rich.markup import escape
from rich.table import Table

from ..errors import SeparenaError
from ..registry import Registry
from .common import console, context_registry, err_console, one_line_errors
from .options import device_option, eval_mixtures_option
from .weights import store_option

__all__ = ["compare"]


def _names_a_model(registry: Registry, text: str) -> bool:
    """Whether argument ``text`` is a model name (not a checkpoint file or a run REF)."""
    from ..presets import normalize_name

    return not Path(text).is_file() and "@" not in text and normalize_name(text) in registry.presets


def _side(registry: Registry, label: str, text: str, store_path: Path, device: str) -> tuple[Any, Any] | str:
    """``(config, model)`` that argument ``label`` (A or B) names, or the model name of a bracket
    (oracle or baseline) that can only be built once the data is known."""
    from .weights import published_model, stored_weights

    if _names_a_model(registry, text):
        config = registry.model_config(text)
        if not config.trainable:
            return config.name
        return published_model(registry, config.name, device, f"{label} {text}: ",
                               "a checkpoint file or a run REF (see `separena runs`)")
    side = stored_weights(registry, text, store_path, device, label,
                          expected="a checkpoint file, a model name or a REF of a stored run")
    if side is None:
        registry.model_config(text)  # an unknown name: the registry's one line, with suggestions
        raise SeparenaError(  # pragma: no cover
            f"{label} {text}: expected a checkpoint file, a model name or a run REF")
    return side


@click.command()
@click.argument("first", metavar="A")
@click.argument("second", metavar="B")
@click.option("--suite", "suite_name", default="speech-quick", show_default=True,
              help="Suite whose test sets both are scored on.")
@click.option("--metric", "metric_name", default="si-sdri", show_default=True,
              help="A registered metric (sdri, stoi-i, pesq-i, ...; `separena plugins` lists them).")
@store_option
@device_option
@eval_mixtures_option
@click.pass_context
@one_line_errors
def compare(ctx: click.Context, first: str, second: str, suite_name: str, metric_name: str, store_path: Path,
            device: str, eval_mixtures: int | None) -> None:
    """Compare A and B on the same test mixtures of a suite: is B better than A?

    A and B are each a checkpoint file (`separena train -o`), a model name (its published
    weights; oracles and the mixture baseline need none) or a run REF (MODEL@SUITE[:SEED] or a
    run-hash prefix, see `separena runs`). For every test set: each mean score (SI-SDRi, or
    --metric) with its 95 % interval, and the difference B - A per mixture: its mean and
    interval, the share of mixtures B wins, and a Wilcoxon signed-rank p-value (Holm-corrected
    over the test sets). Mixtures where the metric is undefined for A or B are left out.
    """
    from ..bench.execute import metric_table
    from ..bench.runner import fitted_config, installed_metric
    from ..bench.stats import bootstrap_interval, compare_pairs, holm
    from ..data import MixtureSubset
    from ..evaluation import evaluate
    from .model import _check_serves, _suite_data

    registry = context_registry(ctx)
    metric = installed_metric(registry, metric_name, "--metric")
    if first == second:
        raise SeparenaError(f"A and B: both are {first!r}; expected two different models or weights")
    for text in (first, second):  # every check before weights are read or data built
        if _names_a_model(registry, text):
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
        baselines: dict[int, Any] = {}  # the mixture's own score, for an improvement metric: once per mixture
        scores = {}
        for text, model in models.items():
            result = evaluate(model, scored, device=device, description=f"{text} on {set_name}",
                              keep_estimates=metric.name != "si-sdri", permutation_invariant=data.permutation_invariant)
            per_source = result.si_sdri if metric.name == "si-sdri" else metric_table(
                metric, result.estimates or [], scored, data.sample_rate, model.n_src,
                memo=lambda i, compute: baselines[i] if i in baselines else baselines.setdefault(i, compute()))
            scores[text] = per_source.nanmean(1).numpy()  # (a source without a score leaves the others')
        a, b = scores[first], scores[second]
        kept = np.isfinite(a) & np.isfinite(b)
        if not kept.any():
            raise SeparenaError(f"--metric {metric.name}: undefined on every mixture of {set_name} for A or B; "
                                "expected a metric these sources can be scored with")
        a, b = a[kept], b[kept]
        test = compare_pairs({"b": b, "a": a})[0]  # (b - a)
        better = (b - a) if metric.higher_is_better else (a - b)
        rows.append((set_name, len(a), bootstrap_interval(a), bootstrap_interval(b), bootstrap_interval(b - a),
                     float(np.mean((better > 0) + 0.5 * (better == 0))), test))
    adjusted = holm([row[-1].p_value for row in rows])
    title = f"{escape(second)} (B) against {escape(first)} (A) on {data.name}"
    table = Table(title=title)
    label = metric.label or metric.name
    unit = f" ({metric.unit})" if metric.unit else ""
    for column in ("set", "mixtures", f"A: {label}{unit} [95 %]", f"B: {label}{unit} [95 %]",
                   f"B - A{unit} [95 %]", "B wins", "p (Holm)", "verdict"):
        table.add_column(column)
    for (set_name, n, a, b, diff, wins, _), p in zip(rows, adjusted):
        b_better = diff.mean > 0 if metric.higher_is_better else diff.mean < 0
        verdict = "no detectable difference" if p >= 0.05 else "B better" if b_better else "A better"
        table.add_row(set_name, str(n), _interval(a), _interval(b), _interval(diff), f"{wins:.0%}", f"{p:.2g}",
                      verdict)
    console.print(table)
    if any(row[1] < 20 for row in rows):
        err_console.print("note: fewer than 20 mixtures in a set: only large differences can be detected")


def _interval(interval: Any) -> str:
    return f"{interval.mean:.2f} [{interval.low:.2f}, {interval.high:.2f}]"
