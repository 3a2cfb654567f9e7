"""Run a suite: plan its runs, skip the finished ones, execute the rest, store each outcome.

The driver (:func:`run_suite`) is the only writer of the store. It plans one
:class:`~separena.bench.runs.RunConfig` per model and seed (:func:`plan_runs`), hands the
runs that are not stored yet to an :class:`~separena.bench.executor.Executor`, which executes
each with :func:`~separena.bench.execute.execute_run`, and stores every outcome in one
transaction. A run whose model cannot even be resolved is recorded as failed without
executing; failed runs are retried on the next invocation.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import SeparenaError, TrainingInterrupted
from ..registry import ModelConfig, Registry
from ..specs import BRACKETS, MetricSpec, Suite
from .execute import one_line
from .executor import Executor, LocalExecutor
from .runs import DataCache, RunConfig, RunOutcome, code_version
from .store import ResultStore

__all__ = ["run_suite", "plan_suite", "plan_runs", "suite_models", "SuiteResult", "fitted_config", "installed_metric"]


@dataclass
class SuiteResult:
    """What one invocation of :func:`run_suite` did."""

    suite: Suite
    data_name: str
    configs: list[RunConfig]  # every run of the suite (this invocation's code version)
    reused: list[str] = field(default_factory=list)  # run hashes found finished in the store
    executed: list[str] = field(default_factory=list)  # run hashes run and stored now
    failed: list[str] = field(default_factory=list)  # run hashes that failed now
    seconds: float = 0.0  # wall-clock of the invocation

    @property
    def run_hashes(self) -> list[str]:
        return [c.run_hash for c in self.configs]


def suite_models(registry: Registry, suite: Suite, models: Sequence[str] | None = None) -> list[str]:
    """The bracket presets serving the suite's task (oracles, then baselines), then the suite's
    own selection (or ``models``)."""
    tasks = registry.dataset(suite.dataset).tasks
    selected: list[str] = []
    for pattern in list(models) if models else list(suite.models):
        if any(c in pattern for c in "*?["):  # patterns only pick models that serve the data's task
            matched = [m for task in tasks for m in registry.select([pattern], task=task)]
        else:  # plain names are taken as given (and unknown ones raise with suggestions)
            matched = registry.select([pattern])
        if not matched and models:  # a suite's own pattern may name a plugin not installed here; the user's may not
            raise SeparenaError(f"model pattern {pattern!r} matches no model serving {' or '.join(tasks)}; expected "
                                f"a name or fnmatch pattern (see `separena list --task {tasks[0]}`)")
        selected.extend(m for m in matched if m not in selected)
    brackets: dict[str, str] = {}  # preset -> family
    for task in tasks:
        for name in registry.list_models("*", task=task):
            spec = registry.architectures.get(registry.preset(name).architecture)
            if spec is not None and spec.family in BRACKETS:
                brackets.setdefault(name, spec.family)
    ordered = sorted(brackets, key=lambda name: BRACKETS.index(brackets[name]))  # oracles above, baselines below
    return ordered + [m for m in selected if m not in brackets]


def check_suite(registry: Registry, suite: Suite, models: Sequence[str] | None = None) -> list[str]:
    """The suite's models (see :func:`suite_models`), once its metrics are known and installed;
    cheap, so commands call it before building data or creating a store."""
    for name in suite.metrics:
        installed_metric(registry, name, f"suite {suite.name}")
    return suite_models(registry, suite, models)


def suite_data(registry: Registry, suite: Suite, cache: DataCache) -> Any:
    """The suite's data, built once into ``cache``; an error building it (a bad ``dataset_params``
    value, a missing package) begins with where the suite is defined."""
    try:
        return cache.get(registry, suite.dataset, suite.dataset_params, suite.sample_rate)
    except SeparenaError as exc:
        raise SeparenaError(f"{suite.where()}: {exc}") from None


def installed_metric(registry: Registry, name: str, where: str) -> MetricSpec:
    """The metric ``name``, once the libraries it needs are known to be installed (``where``
    begins the error for an unknown name or a missing library)."""
    try:
        metric = registry.metric(name)
    except SeparenaError as exc:
        raise SeparenaError(f"{where}: {exc}") from None
    missing = [m for m in metric.requires if importlib.util.find_spec(m) is None]
    if missing:
        raise SeparenaError(f"{where}: metric {metric.name!r} needs {', '.join(missing)}; expected it "
                            f"installed (pip install {' '.join(missing)})")
    return metric


def fitted_config(registry: Registry, name: str, sample_rate: int, n_src: int | None,
                  **overrides: Any) -> ModelConfig:
    """The model config of ``name`` (with parameter ``overrides``) fitted to the data: a model
    with an ``n_src`` parameter separates the data's ``n_src`` sources (``speech-3mix`` trains
    3-speaker models of ``speech-quick``'s presets), and a bracket (oracle, baseline) also takes
    the data's sample rate, so the same oracle presets bracket speech and music data."""
    spec = registry.architectures.get(registry.preset(name).architecture)
    if spec is None:
        return registry.model_config(name, **overrides)
    fit: dict[str, int] = {"n_src": n_src} if n_src and "n_src" in spec.params() else {}
    if spec.family in BRACKETS:
        fit["sample_rate"] = sample_rate
    return registry.model_config(name, **{**overrides, **fit})


def plan_runs(registry: Registry, suite: Suite, data_name: str, *, models: Sequence[str] | None = None,
              device: str = "cpu", artifacts_dir: str = "", save_examples: int = 3,
              n_src: int | None = None, threads: int = 1, data_workers: int = 0,
              untrained_seed: int | None = None) -> list[RunConfig]:
    """One run per model and seed (models that are not trained run once, with ``untrained_seed``,
    by default the suite's first seed).

    Oracles take the data's ``n_src`` and the suite's sample rate, so the same oracle presets
    bracket speech (2 sources, 8 kHz) and music (4 stems, 16 kHz) suites.
    """
    configs = []
    for name in suite_models(registry, suite, models):
        try:
            model = fitted_config(registry, name, suite.sample_rate, n_src)
        except Exception as exc:  # unavailable plugin, bad preset, builder that fails to import
            preset = registry.preset(name)
            spec = registry.architectures.get(preset.architecture)
            configs.append(RunConfig(
                suite=suite.name, preset=preset.name, architecture=preset.architecture,
                family=spec.family if spec else "unknown", trainable=spec.trainable if spec else True,
                params=dict(preset.params), objective={}, dataset=suite.dataset,
                dataset_params=dict(suite.dataset_params), data_name=data_name, sample_rate=suite.sample_rate,
                segment_seconds=suite.segment_seconds, budget=dataclasses.asdict(suite.budget),
                seed=suite.seeds[0], code_version=code_version(None), device=device,
                artifacts_dir=artifacts_dir, error=f"resolve: {_resolve_error(exc, registry, spec)}"))
            continue
        code = code_version(model)
        seeds = suite.seeds if model.trainable else (suite.seeds[0] if untrained_seed is None else untrained_seed,)
        configs.extend(RunConfig.for_model(suite, model, data_name=data_name, seed=seed, code=code, device=device,
                                           save_examples=save_examples, artifacts_dir=artifacts_dir,
                                           threads=threads, data_workers=data_workers)
                       for seed in seeds)
    return configs


def plan_suite(registry: Registry, suite_name: str, *, models: Sequence[str] | None = None,
               seeds: Sequence[int] | None = None, budget: Mapping[str, Any] | None = None,
               data_cache: DataCache | None = None, device: str = "cpu", artifacts_dir: str = "",
               save_examples: int = 3, threads: int = 1, data_workers: int = 0) -> tuple[Suite, Any, list[RunConfig]]:
    """The suite as an invocation runs it (``seeds`` and ``budget`` replacing its own), its data
    (built once, then cached) and one :class:`RunConfig` per run: what :func:`run_suite` runs,
    and what ``separena bench --dry-run`` shows. Arguments as :func:`run_suite`'s."""
    suite = registry.suite(suite_name)
    untrained_seed = suite.seeds[0]
    if seeds:
        suite = dataclasses.replace(suite, seeds=tuple(dict.fromkeys(seeds)))
    if budget:
        suite = dataclasses.replace(suite, budget=dataclasses.replace(suite.budget, **budget))
    check_suite(registry, suite, models)  # before the data is built
    data = suite_data(registry, suite, data_cache or DataCache())
    configs = plan_runs(registry, suite, data.name, models=models, device=device, artifacts_dir=artifacts_dir,
                        save_examples=save_examples, n_src=data.n_src, threads=threads, data_workers=data_workers,
                        untrained_seed=untrained_seed)
    return suite, data, configs


def run_suite(
    registry: Registry,
    suite_name: str,
    *,
    models: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    store: ResultStore,
    executor: Executor | None = None,
    device: str = "cpu",
    progress: bool = True,
    fresh: bool = False,
    save_examples: int = 3,
    data_cache: DataCache | None = None,
    on_outcome: Callable[[RunOutcome, int, int], None] | None = None,
    threads: int = 1,
    data_workers: int = 0,
    budget: Mapping[str, Any] | None = None,
) -> SuiteResult:
    """Run every missing run of a suite, resuming from ``store``.

    Args:
        registry: presets, suites, datasets.
        suite_name: the suite to run.
        models: names or patterns replacing the suite's own selection (oracles are always added).
        seeds: seeds replacing the suite's own for the trained models; a run's hash does not
            depend on the other seeds, so a one-seed run is reused when the whole suite runs
            later. Models that are not trained keep the suite's first seed: a second seed would
            give them the same scores again, at the same cost.
        store: where finished runs are read and written (by this process only).
        executor: where runs execute (default: :class:`LocalExecutor` in this process).
        device: torch device of every run.
        progress: show progress bars and one line per finished run.
        fresh: archive this code version's stored runs of the suite and run them again.
        save_examples: separated test mixtures per run saved as wav for the report.
        data_cache: built datasets (default: the executor's, else a new one).
        on_outcome: called after each outcome is stored with ``(outcome, index, total)``.
        threads: torch threads of each local run (not part of the run hash; the same count
            gives the same numbers, so resumed and uninterrupted runs agree).
        data_workers: processes that build each run's training batches ahead (not part of the
            run hash: the batches are the same); worth it on a GPU.
        budget: budget fields replacing the suite's (e.g. ``{"batch_size": 16}``); they are
            part of each run's hash, so such runs are stored beside the suite's own.

    Returns:
        A :class:`SuiteResult`; the leaderboard is built from ``store.runs(run_hashes=...)``.
    """
    start = time.perf_counter()
    cache = data_cache or getattr(executor, "data_cache", None) or DataCache()
    suite, data, configs = plan_suite(registry, suite_name, models=models, seeds=seeds, budget=budget,
                                      data_cache=cache, device=device, artifacts_dir=str(store.artifacts_dir),
                                      save_examples=save_examples, threads=threads, data_workers=data_workers)
    own_executor = executor is None
    if executor is None:
        executor = LocalExecutor(registry, data_cache=cache, progress=progress)
    result = SuiteResult(suite=suite, data_name=data.name, configs=configs)
    for c in configs:
        store.request(suite.name, c.run_hash, c.preset, c.seed)
    if fresh:
        store.archive(c.run_hash for c in configs)
    done = store.finished(c.run_hash for c in configs)
    result.reused = [c.run_hash for c in configs if c.run_hash in done]
    todo = [c for c in configs if c.run_hash not in done]
    console = _console() if progress else None
    if console is not None:
        console.print(f"[bold]{suite.name}[/bold] on {data.name}: {len(configs)} runs, "
                      f"{len(result.reused)} already stored, {len(todo)} to run")
    try:
        for c in todo:
            if c.error is not None:  # could not be resolved: record without executing
                outcome = RunOutcome.failed(c, c.error)
                _record(store, outcome, result, console, on_outcome, len(todo))
            else:
                executor.submit(c)
        for outcome in executor.as_completed():
            _record(store, outcome, result, console, on_outcome, len(todo))
    except KeyboardInterrupt:  # outside a training in this process, or with runs in workers
        stored = len(result.executed) + len(result.failed)
        cut = getattr(executor, "cut_runs", [])  # the local executor's workers say where they stopped
        raise TrainingInterrupted(
            f"suite '{suite.name}': interrupted (Ctrl-C) with {stored} of {len(todo)} runs stored; the same "
            f"command goes on from there, a run cut in its training from the step it reached"
            + (f" ({', '.join(cut)})" if cut else "")) from None
    finally:
        if own_executor:
            executor.close()
    result.seconds = time.perf_counter() - start
    return result


def _record(store: ResultStore, outcome: RunOutcome, result: SuiteResult, console: Any,
            on_outcome: Callable[[RunOutcome, int, int], None] | None, total: int) -> None:
    c = outcome.config
    if outcome.ok:
        store.add_run(c.run_hash, c.suite, c.preset, c.seed, outcome.payload)
        result.executed.append(c.run_hash)
    else:
        store.add_failure(c.run_hash, c.suite, c.preset, c.seed, outcome.error or "unknown error", outcome.payload)
        result.failed.append(c.run_hash)
    index = len(result.executed) + len(result.failed)
    if console is not None:
        from rich.markup import escape

        if outcome.ok:
            test = outcome.payload["sets"].get("test", {})
            console.print(f"[{index}/{total}] {c.preset} seed {c.seed}: SI-SDRi {test.get('si_sdri_mean', math.nan):.2f} dB"
                          f" ({outcome.payload['wall_seconds']:.0f} s)")
        else:
            console.print(f"[{index}/{total}] {c.preset} seed {c.seed}: [red]failed: {escape(outcome.error or '')}[/red]")
    if on_outcome is not None:
        on_outcome(outcome, index, total)


def _console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _resolve_error(exc: BaseException, registry: Registry, spec: Any) -> str:
    """One line; when the preset's architecture is missing, with the errors of the plugins that
    failed to load (one of them may have been meant to provide it), so the report shows why."""
    text = one_line(exc)
    errors = [info.errors[0][:200] for info in registry.plugins.values() if info.errors] if spec is None else []
    if errors:
        text = text.split("; failed plugins:")[0] + "; failed plugins: " + "; ".join(errors)
    return text
