"""``separena compare A B``: two trained models (or two weights of one model) on the same test
mixtures of a suite, mixture by mixture, with the leaderboard's statistics (SI-SDRi or any
registered metric).

Each of A and B is named in one word: a checkpoint file, a model name (its published weights;
oracles and baselines fitted to the suite's data, as the benchmark fits them), or a benchmark
run's REF in ``--store``; ``MODEL@SUITE`` with several seeds stored takes them all, each
mixture's scores averaged over them (as the leaderboard pairs models). A run (stored or
published) brings the scores it stored per mixture: where they are of the suite's data, its
test sets and the metric, they are used as they are (the leaderboard's numbers, and no minutes
of evaluation); ``--rescore`` scores its weights again. The difference B - A of the score per
mixture gets a 95 % bootstrap interval and a two-sided Wilcoxon signed-rank test,
Holm-corrected over the suite's test sets.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np
from rich.markup import escape
from rich.table import Table

from ..errors import SeparenaError
from ..registry import Registry
from .common import complete_names, console, context_registry, err_console, one_line_errors
from .options import device_option, eval_mixtures_option
from .weights import store_option

if TYPE_CHECKING:
    from ..bench.store import StoredRun

__all__ = ["compare"]


def _names_a_model(registry: Registry, text: str) -> bool:
    """Whether argument ``text`` is a model name (not a checkpoint file or a run REF)."""
    from ..presets import normalize_name

    return not Path(text).is_file() and "@" not in text and normalize_name(text) in registry.presets


@dataclass
class _Side:
    """A or B: how its models are built once the data is known (one per seed), and the runs
    (stored or published, one per seed) whose per-mixture scores may stand for them."""

    text: str
    builds: list[Callable[[Any], tuple[Any, Any]]]  # data -> (config, model)
    runs: list[StoredRun] = field(default_factory=list)
    kind: str = "run"  # or "published run"
    models: list[Any] | None = None  # built once the stored scores did not serve

    @property
    def origin(self) -> str:
        """Which runs, in words."""
        return (self.kind + "s" * (len(self.runs) > 1) + " "
                + ", ".join(f"{r.model}@{r.suite}:{r.seed} ({r.run_hash[:12]})" for r in self.runs))

    def stored_scores(self, data: Any, set_name: str, mixtures: Any, metric: Any) -> np.ndarray | None:
        """``[seeds, mixtures]``: each run's stored ``metric`` of each mixture (mean over
        sources, as the leaderboard takes it), or ``None`` unless every run stored it for all
        of them (same data, set and metric)."""
        from ..bench.leaderboard import per_mixture_scores
        from ..data import MixtureSubset

        if not self.runs or any(run.scored_on != data.name for run in self.runs):
            return None
        found = per_mixture_scores(self.runs, set_name, metric.key)
        if len(found) != 1:
            return None
        ((names, scores),) = found.values()
        if scores.shape[0] != len(self.runs) or len(names) != len(data.test_sets()[set_name]):
            return None
        # The same data (content hash) has the same mixtures in the same order.
        return scores[:, mixtures.indices] if isinstance(mixtures, MixtureSubset) else scores


def _default_suite(registry: Registry, first: str, second: str, store_path: Path) -> str:
    """The suite of A's run, else of B's (a stored run, or the published run of a model name),
    where the registry has it; else ``speech-quick``. Says which where it is a run's."""
    from ..bench import ResultStore
    from ..bench.published import PublishedStore, default_published_dir, recorded_params
    from .weights import looks_like_run_ref

    for label, text in (("A", first), ("B", second)):
        run = None
        if _names_a_model(registry, text):
            config = registry.model_config(text)
            run = PublishedStore(default_published_dir()).weights_for(config.name, recorded_params(config)) \
                if config.trainable else None
        elif not Path(text).is_file() and looks_like_run_ref(text) and store_path.is_file():
            with ResultStore(store_path) as store:
                run = store.resolve_seeds(text, label)[0]
        if run is not None and run.suite in registry.suites:
            err_console.print(f"note: --suite {run.suite}, the suite of {label}'s run (--suite chooses another)")
            return run.suite
    return "speech-quick"


def _side(registry: Registry, label: str, text: str, store_path: Path, device: str, suite_name: str,
          rescore: bool) -> _Side:
    """What argument ``label`` (A or B) names. Weights are read here unless stored scores will
    likely stand for them, so that a model the suite does not serve is refused before the data
    is built."""
    from ..bench.runner import fitted_config
    from ..bench.runs import canonical_json
    from .model import _check_serves
    from .weights import published_model, published_run_of, stored_model, stored_runs, stored_weights

    if _names_a_model(registry, text):
        config = registry.model_config(text)
        if not config.trainable:  # an oracle or baseline is fitted to the data's sources and rate
            def fitted(data: Any) -> tuple[Any, Any]:
                fit = fitted_config(registry, config.name, data.sample_rate, data.n_src)
                return fit, fit.build().to(device).eval()
            return _Side(text, [fitted])
        expected = "a checkpoint file or a run REF (see `separena runs`)"
        _, run = published_run_of(registry, config.name, f"{label} {text}: ", expected)
        return _Side(text, [lambda data: published_model(registry, config.name, device, f"{label} {text}: ",
                                                         expected)], [run], "published run")
    expected = "a checkpoint file, a model name or a REF of a stored run"
    if Path(text).is_file():
        loaded = stored_weights(registry, text, store_path, device, label, expected=expected)
        _check_serves(registry, loaded[0], suite_name)
        return _Side(text, [lambda data: loaded])
    runs = stored_runs(text, store_path, label, expected, seeds=True)
    if runs is None:
        registry.model_config(text)  # an unknown name: the registry's one line, with suggestions
        raise SeparenaError(f"{label} {text}: expected {expected}")  # pragma: no cover
    suite = registry.suite(suite_name)
    same_data = (suite.dataset, json.loads(canonical_json(dict(suite.dataset_params))), suite.sample_rate)
    if not rescore and all((r.payload["config"]["dataset"], r.payload["config"]["dataset_params"],
                            r.payload["config"]["sample_rate"]) == same_data for r in runs):
        return _Side(text, [lambda data, run=run: stored_model(registry, run, store_path, device) for run in runs],
                     runs)
    loaded_runs = [stored_model(registry, run, store_path, device) for run in runs]
    _check_serves(registry, loaded_runs[0][0], suite_name)
    return _Side(text, [lambda data, loaded=loaded: loaded for loaded in loaded_runs], runs)


@click.command()
@click.argument("first", metavar="A", shell_complete=complete_names("models"))
@click.argument("second", metavar="B", shell_complete=complete_names("models"))
@click.option("--suite", "suite_name", default=None, shell_complete=complete_names("suites"),
              help="Suite whose test sets both are scored on (default: the suite of A's run, or of B's, where "
                   "one names a run, else speech-quick).")
@click.option("--metric", "metric_name", default="si-sdri", show_default=True,
              help="A registered metric (sdri, stoi-i, pesq-i, ...; `separena plugins` lists them).")
@click.option("--rescore", is_flag=True,
              help="Score a run's weights again instead of using the scores it stored.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the table's numbers to this JSON file (for scripts, e.g. a regression check).")
@store_option
@device_option
@eval_mixtures_option
@click.pass_context
@one_line_errors
def compare(ctx: click.Context, first: str, second: str, suite_name: str, metric_name: str, rescore: bool,
            json_path: Path | None, store_path: Path, device: str, eval_mixtures: int | None) -> None:
    """Compare A and B on the same test mixtures of a suite: is B better than A?

    A and B are each a checkpoint file (`separena train -o`), a model name (its published
    weights; oracles and the mixture baseline need none) or a run REF (MODEL@SUITE[:SEED] or a
    run-hash prefix, see `separena runs`; MODEL@SUITE takes every stored seed, each mixture's
    scores averaged over them). A run's (or the published run's) stored scores are used where
    they are of the suite's data and the metric; --rescore scores its weights again. For every
    test set: each mean score (SI-SDRi, or --metric) with its 95 % interval, and the difference
    B - A per mixture: its mean and interval, the share of mixtures B wins, and a Wilcoxon
    signed-rank p-value (Holm-corrected over the test sets). Mixtures where the metric is
    undefined for A or B are left out.
    """
    from ..bench.runner import installed_metric
    from ..bench.stats import bootstrap_interval, compare_pairs, holm
    from ..data import MixtureSubset
    from .model import _check_serves, _suite_data
    from .options import check_output_path

    registry = context_registry(ctx)
    metric = installed_metric(registry, metric_name, "--metric")
    if first == second:
        raise SeparenaError(f"A and B: both are {first!r}; expected two different models or weights")
    if json_path is not None:
        check_output_path(json_path, "--json", folder=False)
    if suite_name is None:
        suite_name = _default_suite(registry, first, second, store_path)
    for text in (first, second):  # every check of a name before weights are read or data built
        if _names_a_model(registry, text):
            _check_serves(registry, registry.model_config(text), suite_name)
    sides = [_side(registry, label, text, store_path, device, suite_name, rescore)
             for label, text in (("A", first), ("B", second))]
    _, data = _suite_data(registry, suite_name)
    rows = []
    for set_name, mixtures in data.test_sets().items():
        scored = MixtureSubset.seeded(mixtures, eval_mixtures) if eval_mixtures else mixtures
        baselines: dict[int, Any] = {}  # the mixture's own score, for an improvement metric: once per mixture
        seeds_a, seeds_b = (_scores(side, data, set_name, scored, metric, device, baselines, rescore)
                            for side in sides)
        kept = np.isfinite(seeds_a).all(0) & np.isfinite(seeds_b).all(0)
        if not kept.any():
            raise SeparenaError(f"--metric {metric.name}: undefined on every mixture of {set_name} for A or B; "
                                "expected a metric these sources can be scored with")
        seeds_a, seeds_b = seeds_a[:, kept], seeds_b[:, kept]
        a, b = seeds_a.mean(0), seeds_b.mean(0)  # each side's seeds averaged per mixture, as the leaderboard pairs
        test = compare_pairs({"b": b, "a": a})[0]  # (b - a)
        better = (b - a) if metric.higher_is_better else (a - b)
        rows.append((set_name, len(a), bootstrap_interval(seeds_a), bootstrap_interval(seeds_b),
                     bootstrap_interval(b - a), float(np.mean((better > 0) + 0.5 * (better == 0))), test))
    for label, side in zip("AB", sides):
        if len(side.builds) > 1:
            err_console.print(f"note: {label} {escape(side.text)}: seeds {', '.join(str(r.seed) for r in side.runs)}, "
                              "each mixture's scores averaged over them (the interval resamples seeds too)")
        if side.models is None and side.runs:
            err_console.print(f"note: {label} {escape(side.text)}: the scores stored by {escape(side.origin)} "
                              "(--rescore scores its weights again)")
    adjusted = holm([row[-1].p_value for row in rows])
    verdicts = [_verdict(row[4].mean, p, metric.higher_is_better) for row, p in zip(rows, adjusted)]
    if json_path is not None:
        _write_json(json_path, first, second, suite_name, data.name, metric, rows, adjusted, verdicts)
    title = f"{escape(second)} (B) against {escape(first)} (A) on {data.name}"
    table = Table(title=title)
    label = metric.label or metric.name
    unit = f" ({metric.unit})" if metric.unit else ""
    for column in ("set", "mixtures", f"A: {label}{unit} [95 %]", f"B: {label}{unit} [95 %]",
                   f"B - A{unit} [95 %]", "B wins", "p (Holm)", "verdict"):
        table.add_column(column)
    for (set_name, n, a, b, diff, wins, _), p, verdict in zip(rows, adjusted, verdicts):
        table.add_row(set_name, str(n), _interval(a), _interval(b), _interval(diff), f"{wins:.0%}", f"{p:.2g}",
                      verdict)
    console.print(table)
    if any(row[1] < 20 for row in rows):
        err_console.print("note: fewer than 20 mixtures in a set: only large differences can be detected")


def _scores(side: _Side, data: Any, set_name: str, mixtures: Any, metric: Any, device: str,
            baselines: dict[int, Any], rescore: bool) -> np.ndarray:
    """``[seeds, mixtures]``: the side's score of each mixture (mean over its sources): the stored
    ones where they serve (unless ``rescore``), else its models', scored as the benchmark scores."""
    from ..bench.execute import metric_table
    from ..evaluation import evaluate

    stored = None if rescore or side.models is not None else side.stored_scores(data, set_name, mixtures, metric)
    if stored is not None:
        return stored
    if side.models is None:
        if side.runs and not rescore:
            err_console.print(f"note: {escape(side.text)}: {escape(side.origin)} stored no {metric.name} scores of "
                              f"{set_name} of {data.name}: scoring its weights")
        side.models = [build(data)[1] for build in side.builds]
        for model in side.models:
            if model.n_src != data.n_src:
                raise SeparenaError(f"{side.text}: separates {model.n_src} sources, {data.name} has {data.n_src}; "
                                    "expected a model of as many sources")
    scores = []
    for model in side.models:
        result = evaluate(model, mixtures, device=device, description=f"{side.text} on {set_name}",
                          keep_estimates=metric.name != "si-sdri", permutation_invariant=data.permutation_invariant)
        per_source = result.si_sdri if metric.name == "si-sdri" else metric_table(
            metric, result.estimates or [], mixtures, data.sample_rate, model.n_src,
            memo=lambda i, compute: baselines[i] if i in baselines else baselines.setdefault(i, compute()))
        scores.append(per_source.nanmean(1).numpy())  # (a source without a score leaves the others')
    return np.stack(scores)


def _verdict(difference: float, p: float, higher_is_better: bool) -> str:
    """What the Holm-corrected test says of B - A on one set."""
    if p >= 0.05:
        return "no detectable difference"
    b_better = difference > 0 if higher_is_better else difference < 0
    return "B better" if b_better else "A better"


def _write_json(path: Path, first: str, second: str, suite: str, data_name: str, metric: Any, rows: list[Any],
                adjusted: list[float], verdicts: list[str]) -> None:
    """The table as JSON: per set the mixtures, each side's mean and interval, B - A's, B's win
    rate, the p-values (raw and Holm-corrected) and the verdict."""
    def number(x: float) -> float | None:  # JSON has no NaN
        return float(x) if np.isfinite(x) else None

    def interval(i: Any) -> dict[str, float | None]:
        return {"mean": number(i.mean), "low": number(i.low), "high": number(i.high)}

    doc = {"a": first, "b": second, "suite": suite, "data": data_name, "metric": metric.name,
           "sets": {name: {"mixtures": n, "a": interval(a), "b": interval(b), "b_minus_a": interval(diff),
                           "b_wins": number(wins), "p_value": number(test.p_value), "p_holm": number(p),
                           "verdict": verdict}
                    for (name, n, a, b, diff, wins, test), p, verdict in zip(rows, adjusted, verdicts)}}
    path.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def _interval(interval: Any) -> str:
    return f"{interval.mean:.2f} [{interval.low:.2f}, {interval.high:.2f}]"
