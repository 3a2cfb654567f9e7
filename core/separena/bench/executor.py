"""Executors: where runs execute. The driver submits plain-data run configs and stores outcomes.

The contract every executor keeps, the local one here and
:class:`~separena.bench.ray_executor.RayExecutor` alike (see docs/benchmark.md):

- A run is a pure function of its :class:`~separena.bench.runs.RunConfig` (plain data; JSON
  round trip via ``to_dict``/``from_dict``), executed by :func:`separena.bench.execute.execute_run`.
- :meth:`Executor.as_completed` yields one :class:`~separena.bench.runs.RunOutcome` (plain
  data too) per submitted run, in completion order; the *driver* writes each to the store,
  one transaction per finished run. Executors never touch the store.
- Workers write only idempotent artifacts (temp file + ``os.replace`` at run-hash paths),
  so a run that executes twice (at-least-once retries) is harmless.

:class:`LocalExecutor` runs on this machine: one run at a time in this process, or ``jobs``
runs at a time in worker processes that rebuild the registry from a :class:`RegistryRecipe`
(one torch thread each and as many runs as cores is steady on a shared machine, where a
2-thread run beside another torch process can slow down tenfold).
"""

from __future__ import annotations

import _thread
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import SeparenaError, TrainingInterrupted
from ..progress import progress_bar
from .execute import execute_run, one_line
from .runs import DataCache, RunConfig, RunOutcome

if TYPE_CHECKING:
    from ..registry import Registry

__all__ = ["Executor", "LocalExecutor", "RegistryRecipe"]


@runtime_checkable
class Executor(Protocol):
    """Runs submitted configs and yields their outcomes as each finishes."""

    def submit(self, config: RunConfig) -> None:
        """Queue a run (returns at once)."""
        ...

    def as_completed(self) -> Iterator[RunOutcome]:
        """Yield the outcome of every submitted run, in completion order, until none are left.

        An exception raised inside a run must come back as a failed outcome, never escape.
        """
        ...

    def close(self) -> None:
        """Release workers; pending runs are dropped (they wrote nothing to the store)."""
        ...


@dataclass(frozen=True)
class RegistryRecipe:
    """How a worker rebuilds the driver's registry: plain data, paths made absolute."""

    entry_points: bool = True
    plugins: tuple[str, ...] = ()
    registry_files: tuple[str, ...] = ()
    core_registry: bool = True

    @classmethod
    def of(cls, *, entry_points: bool = True, plugins: Sequence[str] = (),
           registry_files: Sequence[str | os.PathLike[str]] = (), core_registry: bool = True,
           environment: bool = False) -> RegistryRecipe:
        """A recipe with ``.py`` plugin files and registry files made absolute.

        ``environment=True`` adds ``SEPARENA_PLUGINS`` and ``SEPARENA_REGISTRY`` first, as
        :func:`separena.default_registry` does, so workers need not share the driver's environment.
        """
        from ..registry import ENV_PLUGINS, ENV_REGISTRY, _env_list

        plugins, files = list(plugins), [str(f) for f in registry_files]
        if environment:
            plugins = _env_list(ENV_PLUGINS, ",") + plugins
            files = _env_list(ENV_REGISTRY, os.pathsep) + files
        plugins = [str(Path(p).resolve()) if p.endswith(".py") or os.sep in p else p for p in plugins]
        return cls(entry_points, tuple(plugins), tuple(str(Path(f).resolve()) for f in files), core_registry)

    def build(self) -> Any:
        from ..registry import Registry

        return Registry(entry_points=self.entry_points, plugins=self.plugins, registry_files=self.registry_files,
                        core_registry=self.core_registry)



class LocalExecutor:
    """Runs runs on this machine: in this process one at a time, or ``jobs`` at a time in workers.

    Args:
        registry: resolves presets and datasets in this process (so test plugins registered
            in-process work with ``jobs=1``).
        data_cache: built datasets, shared with the runner so each suite's data is built once.
        progress: show progress bars (the trainer's and evaluator's with ``jobs=1``; one bar per
            running run, fed by the workers, otherwise).
        jobs: runs executing at once. Above 1, each run executes in a worker process (spawned;
            each keeps its registry and data across the runs it executes).
        recipe: how workers rebuild the registry (needed when ``jobs > 1``).
    """

    def __init__(self, registry: Registry, *, data_cache: DataCache | None = None, progress: bool = True,
                 jobs: int = 1, recipe: RegistryRecipe | None = None) -> None:
        if jobs < 1:
            raise SeparenaError(f"jobs: expected 1 or more runs at once, got {jobs}")
        if jobs > 1 and recipe is None:
            raise SeparenaError("jobs: runs in worker processes need a RegistryRecipe to rebuild the registry; "
                                "expected recipe=RegistryRecipe.of(...), got None")
        self.registry = registry
        self.data_cache = data_cache if data_cache is not None else DataCache()
        self.progress = progress
        self.jobs, self.recipe = jobs, recipe
        self._queue: deque[RunConfig] = deque()
        self._pool: ProcessPoolExecutor | None = None
        self.cut_runs: list[str] = []  # runs a Ctrl-C stopped in their training: "model seed N at step K"

    def submit(self, config: RunConfig) -> None:
        self._queue.append(config)

    def as_completed(self) -> Iterator[RunOutcome]:
        if self.jobs == 1:
            while self._queue:
                config = self._queue.popleft()
                yield execute_run(config, self.registry, self.data_cache, progress=self.progress)
            return
        yield from self._in_workers()

    def _in_workers(self) -> Iterator[RunOutcome]:
        self.cut_runs = []
        context = multiprocessing.get_context("spawn")  # fork would copy torch's threads and locks
        events = context.Queue()
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.jobs, mp_context=context, initializer=_worker_init,
                                             initargs=(self.recipe, events))
        pending: dict[Future[dict[str, Any]], RunConfig] = {}
        while self._queue:
            config = self._queue.popleft()
            shipped = config if not config.artifacts_dir else _absolute_artifacts(config)
            pending[self._pool.submit(_worker_run, shipped.to_dict())] = config
        bars = _WorkerBars(events, self.progress)
        stopping = False
        with bars:
            while pending:
                try:
                    done, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                except KeyboardInterrupt:
                    # Ctrl-C: queued runs are dropped; runs under way got it too (the terminal's
                    # process group) and come back interrupted with their training state. If only
                    # this process got it, they finish and are stored: nothing is lost. Twice: stop.
                    if stopping:
                        raise
                    stopping = True
                    pending = {f: c for f, c in pending.items() if not f.cancel()}
                    continue
                bars.drain()
                for future in done:
                    config = pending.pop(future)
                    bars.finish(config.run_hash)
                    try:
                        result = future.result()
                    except Exception as exc:  # the worker process died (killed, out of memory)
                        yield RunOutcome.failed(config, f"worker: {one_line(exc)}")
                        continue
                    if result.get("interrupted"):
                        if not stopping:  # only this worker got the Ctrl-C
                            yield RunOutcome.failed(config, result["interrupted"])
                        elif result.get("step"):  # no failure: the run resumes from its state next time
                            self.cut_runs.append(f"{config.preset} seed {config.seed} at step {result['step']}")
                        continue
                    payload = dict(result["payload"])
                    if "config" in payload:
                        payload["config"] = config.to_dict()
                    yield RunOutcome(config, ok=bool(result["ok"]), payload=payload, error=result["error"])
        if stopping:
            raise KeyboardInterrupt

    def close(self) -> None:
        self._queue.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _absolute_artifacts(config: RunConfig) -> RunConfig:
    import dataclasses

    return dataclasses.replace(config, artifacts_dir=str(Path(config.artifacts_dir).resolve()))


class _WorkerBars:
    """One progress bar per running run, fed by ``(run hash, label, step, total)`` events."""

    def __init__(self, events: Any, enabled: bool) -> None:
        self.events = events
        self.bar = progress_bar(enabled)
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> _WorkerBars:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)

    def drain(self) -> None:
        while True:
            try:
                run_hash, label, step, total = self.events.get_nowait()
            except (queue.Empty, OSError, ValueError):
                return
            if run_hash not in self.tasks:
                self.tasks[run_hash] = self.bar.add_task(label, total=total)
            self.bar.update(self.tasks[run_hash], completed=step, total=total, description=label)

    def finish(self, run_hash: str) -> None:
        task = self.tasks.pop(run_hash, None)
        if task is not None:
            self.bar.remove_task(task)


# -- inside a worker process ----------------------------------------------------------------
_WORKER: dict[str, Any] = {}  # this worker process's registry, data and event queue
_EVENT_SECONDS = 0.5  # at most this often a worker reports a run's progress
_ORPHAN_POLL_SECONDS = 0.5  # how often a worker checks that its driver is alive
_ORPHAN_GRACE_SECONDS = 60.0  # how long a run cut by its driver's death may take to save its state


def _worker_init(recipe: RegistryRecipe, events: Any) -> None:
    # Ctrl-C reaches every process of the terminal's group. A worker waiting for its next run has
    # nothing to save (the driver shuts the pool down), so there it would only print a traceback;
    # a run gets the handler the process started with (ignored under nohup), and while it trains,
    # the trainer's own, which stops it with its state whatever the process started with.
    _WORKER["sigint"] = signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER.update(registry=recipe.build(), cache=DataCache(), events=events, running=False)
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()


def _exit_when_orphaned(driver: int) -> None:
    """End this worker once its driver is gone (killed, out of memory): the pool's workers hold
    both ends of the pipe they wait on for their next run, so they would wait forever. A run under
    way is interrupted as by Ctrl-C first, so that its training state is saved for the resume."""
    while os.getppid() == driver:
        time.sleep(_ORPHAN_POLL_SECONDS)
    if _WORKER["running"]:
        # the trainer's Ctrl-C handler saves the state; outside training, where SIGINT may be
        # ignored (nohup), this is a no-op and the grace ends it
        _thread.interrupt_main(signal.SIGINT)
        deadline = time.monotonic() + _ORPHAN_GRACE_SECONDS
        while _WORKER["running"] and time.monotonic() < deadline:
            time.sleep(_ORPHAN_POLL_SECONDS)
    os._exit(1)


def _worker_run(config: dict[str, Any]) -> dict[str, Any]:
    previous = signal.signal(signal.SIGINT, _WORKER["sigint"])
    _WORKER["running"] = True
    try:
        return _worker_execute(RunConfig.from_dict(config))
    finally:
        _WORKER["running"] = False
        signal.signal(signal.SIGINT, previous)


def _worker_execute(run: RunConfig) -> dict[str, Any]:
    events, label = _WORKER["events"], f"{run.preset} seed {run.seed}"
    last = [0.0]

    def on_step(step: int, total: int | None, loss: float) -> None:
        now = time.monotonic()
        if now - last[0] >= _EVENT_SECONDS or step == total:
            last[0] = now
            events.put((run.run_hash, f"{label} loss {loss:7.3f}", step, total))

    events.put((run.run_hash, f"{label} (building, measuring)", 0, None))
    try:
        outcome = execute_run(run, _WORKER["registry"], _WORKER["cache"], on_step=on_step)
    except TrainingInterrupted as exc:  # the benchmark is stopping; the state resumes the run
        return {"interrupted": f"train: {exc}", "step": exc.steps}
    except KeyboardInterrupt:  # while building or evaluating: a kept final state skips the training
        return {"interrupted": "interrupted (Ctrl-C)"}
    return {"ok": outcome.ok, "payload": outcome.payload, "error": outcome.error}
