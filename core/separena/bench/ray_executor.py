"""``RayExecutor``: the benchmark's runs as Ray tasks, on this machine or a cluster.

Install with ``pip install 'separena[ray]'``. The driver (``separena bench --executor ray``)
plans the runs, skips those already stored, and submits the rest as plain Ray tasks, one per
run, each asking for ``num_cpus`` CPUs (and ``num_gpus`` GPUs when asked). Outcomes come back
in completion order through a ``ray.wait(num_returns=1)`` loop over a ``{ref: config}`` dict,
and the driver alone writes each one to the :class:`~separena.bench.store.ResultStore`, so
results land in the same store, keyed by the same run hashes, whichever executor ran them.

Faults: a task whose worker process dies (SIGKILL, OOM, lost node) is retried ``max_retries``
times by Ray (default 1: runs can take hours). A retried run may have executed twice
(at-least-once), which is harmless: workers write only idempotent artifacts, and the store
keeps the first result of a run hash (``INSERT ... ON CONFLICT DO NOTHING``). Python
exceptions inside a run are not retried: :func:`~separena.bench.execute.execute_run` turns
them into a failed outcome with a one-line error, like the local executor does. A run whose
retries are exhausted becomes a failed outcome ``worker: WorkerCrashedError: ...`` and is
retried by the next ``bench``.

Workers rebuild the registry from a :class:`RegistryRecipe` (entry points, plugin modules or
``.py`` files, registry YAML files), so plugins must be installed (or their files reachable
at the same absolute path) on every node, and a worker refuses a run whose code version
differs from the driver's: a cluster with other code would store mislabeled results.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import SeparenaError
from .execute import execute_run, one_line
from .executor import RegistryRecipe
from .runs import DataCache, RunConfig, RunOutcome, code_version, failure_payload

__all__ = ["RAY_INSTALL_HINT", "RayExecutor", "RegistryRecipe", "require_ray"]

RAY_INSTALL_HINT = "pip install 'separena[ray]'"
OBJECT_STORE_BYTES = 100 * 1024 * 1024  # runs ship only small JSON-able payloads


def require_ray() -> Any:
    """Import ray, or raise a one-line :class:`SeparenaError` that says how to install it."""
    # Ray 2.60 enables token auth by default and reads the mode at import: set it first, so the
    # driver and the processes it starts agree (the token file lives under the home folder).
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    try:
        import ray
    except ImportError:
        raise SeparenaError(f"--executor ray: ray is not installed; expected it installed ({RAY_INSTALL_HINT})") \
            from None
    return ray


# -- the worker side -----------------------------------------------------------------------
_WORKER_STATE: dict[RegistryRecipe, tuple[Any, DataCache]] = {}
_WORKER_LOCK = threading.Lock()


def run_task(config: dict[str, Any], recipe: RegistryRecipe, check_code_version: bool = True) -> dict[str, Any]:
    """Body of one Ray task: execute the run and return plain data (the driver stores it).

    Each worker process keeps its registry and built datasets across the tasks it runs.
    """
    import torch

    run = RunConfig.from_dict(config)
    torch.set_num_threads(max(1, run.threads))
    with _WORKER_LOCK:
        if recipe not in _WORKER_STATE:
            _WORKER_STATE[recipe] = (recipe.build(), DataCache())
        registry, cache = _WORKER_STATE[recipe]
    if run.error is None and check_code_version:
        try:
            here = code_version(registry.model_config(run.preset, **run.params))
        except Exception:
            here = run.code_version  # unresolvable here: execute_run reports why
        if here != run.code_version:
            error = (f"worker: SeparenaError: code version on worker {os.uname().nodename} is {here!r}; expected the "
                     f"driver's {run.code_version!r} (install the same separena and plugins on every node)")
            return {"ok": False, "payload": failure_payload(run, error), "error": error}
    outcome = execute_run(run, registry, cache, progress=False)
    return {"ok": outcome.ok, "payload": outcome.payload, "error": outcome.error}


# -- the driver side -----------------------------------------------------------------------
class RayExecutor:
    """Runs submitted configs as Ray tasks; yields outcomes in completion order.

    Args:
        recipe: how workers rebuild the registry (see :meth:`RegistryRecipe.of`).
        address: a running cluster (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``);
            ``None`` joins the cluster this process already initialised, or starts a local one.
        num_cpus: CPUs of a *local* cluster started here (default: all of this machine's).
        cpus_per_run: CPUs each run asks for (its torch threads follow it).
        gpus_per_run: GPUs each run asks for (``--device cuda`` needs at least a fraction).
        max_retries: times a run whose worker died is retried before it counts as failed.
        temp_dir: Ray's session folder for a local cluster (keep it short: socket paths).
        check_code_version: workers refuse runs whose code version differs from theirs. Only
            tests and benchmarks in a checkout that others edit meanwhile turn it off (a new
            worker would import the edited sources; the numbers must then be checked otherwise).
    """

    def __init__(self, recipe: RegistryRecipe, *, address: str | None = None, num_cpus: int | None = None,
                 cpus_per_run: float = 1, gpus_per_run: float = 0, max_retries: int = 1,
                 temp_dir: str | None = None, check_code_version: bool = True) -> None:
        ray = require_ray()
        if address is not None and num_cpus is not None:
            raise SeparenaError("--num-cpus: sets the size of a local Ray cluster; expected it without --address "
                                f"(the cluster at {address} has its own resources), got both")
        if cpus_per_run <= 0 or gpus_per_run < 0 or max_retries < 0:
            raise SeparenaError(f"ray executor: expected cpus per run > 0, gpus per run >= 0 and retries >= 0, "
                                f"got {cpus_per_run}, {gpus_per_run}, {max_retries}")
        self.recipe = recipe
        self.cpus_per_run, self.gpus_per_run = cpus_per_run, gpus_per_run
        self.check_code_version = check_code_version
        self._owns_ray = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"logging_level": "warning", "log_to_driver": False}
            if address is None:  # a lean local cluster: no dashboard, a small object store (payloads are small)
                kwargs.update(num_cpus=num_cpus, include_dashboard=False, object_store_memory=OBJECT_STORE_BYTES)
                if temp_dir:
                    kwargs["_temp_dir"] = str(temp_dir)
            try:
                ray.init(address=address, **kwargs)
            except Exception as exc:
                text = " ".join(str(exc).split())[:300] or type(exc).__name__
                where = f"--address {address}" if address else "ray executor"
                raise SeparenaError(f"{where}: cannot start or join a Ray cluster: {type(exc).__name__}: {text}") \
                    from None
            self._owns_ray = True
        cluster = ray.cluster_resources()
        if cluster.get("CPU", 0) < cpus_per_run or cluster.get("GPU", 0) < gpus_per_run:
            self.close()
            raise SeparenaError(f"ray executor: each run asks for {cpus_per_run} CPU and {gpus_per_run} GPU; the "
                                f"cluster has {cluster.get('CPU', 0):g} CPU and {cluster.get('GPU', 0):g} GPU")
        self._remote = ray.remote(run_task).options(
            num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=max_retries, retry_exceptions=False,
            name="separena-run")
        self._recipe_ref = ray.put(recipe)
        self._refs: dict[Any, RunConfig] = {}

    def submit(self, config: RunConfig) -> None:
        threads = max(1, int(self.cpus_per_run))
        # Not hashed, so the run hash (and the store key) stays the driver's.
        shipped = dataclasses.replace(config, threads=threads, artifacts_dir=(
            str(Path(config.artifacts_dir).resolve()) if config.artifacts_dir else ""))
        ref = self._remote.remote(shipped.to_dict(), self._recipe_ref, self.check_code_version)
        self._refs[ref] = config

    def as_completed(self) -> Iterator[RunOutcome]:
        ray = require_ray()
        while self._refs:
            ready, _ = ray.wait(list(self._refs), num_returns=1)
            ref = ready[0]
            config = self._refs.pop(ref)
            try:
                result = ray.get(ref)
            except Exception as exc:  # worker died past its retries, task cancelled, node lost
                cause = getattr(exc, "cause", None)
                error = f"worker: {one_line(cause if isinstance(cause, BaseException) else exc)}"
                yield RunOutcome.failed(config, error)
                continue
            payload = dict(result["payload"])
            if "config" in payload:  # the driver's config: its own artifacts path and threads
                payload["config"] = config.to_dict() | {"threads": payload["config"].get("threads", config.threads)}
            yield RunOutcome(config, ok=bool(result["ok"]), payload=payload, error=result["error"])

    def close(self) -> None:
        """Cancel pending runs (they wrote nothing to the store); shut Ray down if we started it."""
        try:
            import ray
        except ImportError:
            return
        for ref in list(self._refs if hasattr(self, "_refs") else ()):
            try:
                ray.cancel(ref, force=True)
            except Exception:
                pass
        if hasattr(self, "_refs"):
            self._refs.clear()
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
            self._owns_ray = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
