"""Executors: where runs execute. The driver submits plain-data run configs and stores outcomes.

The contract that lets a distributed executor slot in (see docs/benchmark.md):

- A run is a pure function of its :class:`~separena.bench.runs.RunConfig` (plain data; JSON
  round trip via ``to_dict``/``from_dict``), executed by :func:`separena.bench.runner.execute_run`.
- :meth:`Executor.as_completed` yields one :class:`RunOutcome` (plain data too) per submitted
  run, in completion order; the *driver* writes each to the store, one transaction per
  finished run. Executors never touch the store.
- Workers write only idempotent artifacts (temp file + ``os.replace`` at run-hash paths),
  so a run that executes twice (at-least-once retries) is harmless.

A ``RayExecutor`` would implement ``submit`` as ``refs[remote.remote(config.to_dict())] = config``
and ``as_completed`` as a ``ray.wait(list(refs), num_returns=1)`` loop, turning task errors
(``RayTaskError``, ``WorkerCrashedError``) into failed outcomes of that config; the worker
rebuilds its registry with :func:`separena.default_registry` and keeps its own
:class:`~separena.bench.runs.DataCache`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .runs import DataCache, RunConfig

if TYPE_CHECKING:
    from ..registry import Registry

__all__ = ["Executor", "LocalExecutor", "RunOutcome"]


@dataclass(frozen=True)
class RunOutcome:
    """What executing one run produced: plain data, safe to ship between processes."""

    config: RunConfig  # the run
    ok: bool  # finished (trained and evaluated)
    payload: dict[str, Any] = field(default_factory=dict)  # results; also kept for failures
    error: str | None = None  # one line: "<stage>: <Type>: <message>" when not ok

    @property
    def run_hash(self) -> str:
        return self.config.run_hash


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


class LocalExecutor:
    """Runs one run at a time in this process, in submission order.

    Args:
        registry: resolves presets and datasets (the driver's own registry object, so test
            plugins registered in-process work).
        data_cache: built datasets, shared with the runner so each suite's data is built once.
        progress: show the trainer's and evaluator's progress bars.
    """

    def __init__(self, registry: Registry, *, data_cache: DataCache | None = None, progress: bool = True) -> None:
        self.registry = registry
        self.data_cache = data_cache if data_cache is not None else DataCache()
        self.progress = progress
        self._queue: deque[RunConfig] = deque()

    def submit(self, config: RunConfig) -> None:
        self._queue.append(config)

    def as_completed(self) -> Iterator[RunOutcome]:
        from .runner import execute_run

        while self._queue:
            config = self._queue.popleft()
            yield execute_run(config, self.registry, self.data_cache, progress=self.progress)

    def close(self) -> None:
        self._queue.clear()

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
