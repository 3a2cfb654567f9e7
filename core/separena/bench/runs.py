"""What one benchmark run is: a plain-data :class:`RunConfig`, its content hash, and its
:class:`RunOutcome`.

A run is a pure function of its config (plus the code that runs it), so the config is plain
data (JSON round trip, picklable) that an executor can ship to another process or machine,
and its :attr:`RunConfig.run_hash` keys the result store: the same preset parameters,
dataset, budget, seed and code version always give the same hash, and a finished run with
that hash is reused instead of re-run.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..registry import ModelConfig, Registry
from ..specs import Budget, Suite

__all__ = ["RunConfig", "RunOutcome", "failure_payload", "code_version", "source_hash", "canonical_json",
           "DataCache", "PRESENTATION_ONLY"]

# Core modules (a trailing "/": every module of a package) that never change a run's numbers:
# editing them must not invalidate stored runs.
PRESENTATION_ONLY = ("cli/", "bench/report/", "bench/leaderboard.py")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the same data always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_jsonable)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    return repr(value)


@dataclass(frozen=True)
class RunConfig:
    """One model trained under one seed on one suite's data, then evaluated: plain data only."""

    suite: str  # suite name (not hashed: identical runs of two suites are one run)
    preset: str  # preset (model) name
    architecture: str  # architecture name
    family: str  # mask | embedding | waveform | oracle | baseline | classic
    trainable: bool  # False: evaluated without training
    params: dict[str, Any]  # every builder parameter, defaults filled in
    objective: dict[str, float]  # loss name -> weight
    dataset: str  # dataset name, e.g. "espeak-2mix"
    dataset_params: dict[str, Any]  # passed to the dataset builder (with sample_rate)
    data_name: str  # the built data's content-hash name, e.g. "espeak-2mix@3f2a9c1b"
    sample_rate: int  # Hz
    segment_seconds: float  # training crop length
    budget: dict[str, Any]  # Budget fields: steps, minutes, batch_size, learning_rate
    seed: int  # model init and training-batch seed
    code_version: str  # separena version + hash of core and plugin sources (see code_version())
    device: str = "cpu"  # not hashed: where it runs
    threads: int = 1  # torch threads inside the run (not hashed; 1 makes CPU runs deterministic)
    data_workers: int = 0  # processes building training batches ahead (not hashed: same batches)
    save_examples: int = 3  # separated test mixtures saved as wav for the report (not hashed)
    artifacts_dir: str = ""  # where the run writes its idempotent artifacts, "" for none (not hashed)
    error: str | None = None  # set when the model could not even be resolved (recorded as a failure)
    metrics: list[str] = field(default_factory=lambda: ["si-sdri", "sdri"])  # scored on every test set (not hashed: they do not change training)

    @property
    def run_hash(self) -> str:
        """sha256 of (preset params, dataset, budget, seed, code version)."""
        key = {
            "architecture": self.architecture, "params": self.params, "objective": self.objective,
            "dataset": self.dataset, "dataset_params": self.dataset_params, "data_name": self.data_name,
            "sample_rate": self.sample_rate, "segment_seconds": self.segment_seconds,
            "budget": self.budget, "seed": self.seed, "code_version": self.code_version,
        }
        return hashlib.sha256(canonical_json(key).encode()).hexdigest()

    @property
    def budget_spec(self) -> Budget:
        return Budget(**self.budget)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (what a remote executor ships and the store keeps)."""
        return json.loads(canonical_json(asdict(self)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        return cls(**dict(data))

    @classmethod
    def for_model(cls, suite: Suite, config: ModelConfig, *, data_name: str, seed: int, code: str,
                  device: str = "cpu", save_examples: int = 3, artifacts_dir: str = "", threads: int = 1,
                  data_workers: int = 0) -> RunConfig:
        """The run of ``config`` under ``seed`` in ``suite``."""
        return cls(
            suite=suite.name, preset=config.name, architecture=config.architecture, family=config.family,
            trainable=config.trainable, params=json.loads(canonical_json(config.params)),
            objective=dict(config.objective), dataset=suite.dataset,
            dataset_params=json.loads(canonical_json(dict(suite.dataset_params))), data_name=data_name,
            sample_rate=suite.sample_rate, segment_seconds=suite.segment_seconds,
            budget=asdict(suite.budget), seed=seed, code_version=code, device=device,
            save_examples=save_examples, artifacts_dir=artifacts_dir, threads=threads,
            data_workers=data_workers, metrics=list(suite.metrics),
        )


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

    @classmethod
    def failed(cls, config: RunConfig, error: str) -> RunOutcome:
        """A failed run: its one-line ``error``, and the payload the store keeps for failures."""
        return cls(config, ok=False, payload=failure_payload(config, error), error=error)


def failure_payload(config: RunConfig, error: str) -> dict[str, Any]:
    """The stored payload of a run that failed with the one-line ``error``."""
    return {"status": "failed", "run_hash": config.run_hash, "config": config.to_dict(), "error": error}


def _package_root(module: str) -> list[Path]:
    """Source files of ``module``'s top-level regular package, or of the module alone when it is
    top-level or lives in a namespace package (e.g. a test module under ``tests/``)."""
    try:
        top = importlib.util.find_spec(module.split(".")[0])
        if top is not None and top.origin and top.submodule_search_locations:
            roots = [Path(p) for p in top.submodule_search_locations]
            # Only code: presets and suites are data, already resolved into the RunConfig.
            return sorted(f for r in roots for f in r.rglob("*.py") if "__pycache__" not in f.parts)
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return []
    return [Path(spec.origin)]


def _label(module: str) -> str:
    """The name shown in the code version: the top-level package, or the module itself."""
    try:
        top = importlib.util.find_spec(module.split(".")[0])
    except (ImportError, ValueError):
        top = None
    return module.split(".")[0] if top is not None and top.origin and top.submodule_search_locations else module


@functools.lru_cache(maxsize=64)
def source_hash(module: str) -> str:
    """Short sha256 of the source files of ``module``'s top-level package (empty if not found).

    For ``separena`` itself the presentation-only modules (:data:`PRESENTATION_ONLY`) are left
    out, so that editing the report does not invalidate stored runs.
    """
    files = _package_root(module)
    if not files:
        return ""
    base = files[0].parent if len(files) == 1 else Path(*_common_parts(files))
    digest = hashlib.sha256()
    for f in files:
        rel = f.relative_to(base).as_posix() if f.is_relative_to(base) else f.name
        if module.split(".")[0] == "separena" and _presentation_only(rel):
            continue
        digest.update(rel.encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _presentation_only(rel: str) -> bool:
    return any(rel.startswith(entry) if entry.endswith("/") else rel == entry for entry in PRESENTATION_ONLY)


def _common_parts(files: list[Path]) -> tuple[str, ...]:
    parts = files[0].parent.parts
    for f in files[1:]:
        common = 0
        for a, b in zip(parts, f.parent.parts):
            if a != b:
                break
            common += 1
        parts = parts[:common]
    return parts


def _module_of(config: ModelConfig) -> str:
    build = config.spec.build
    if isinstance(build, str):
        return build.partition(":")[0]
    return getattr(build, "__module__", "") or ""


def code_version(config: ModelConfig | None) -> str:
    """``separena <version>+<core hash>/<plugin package>+<its hash>/torch <version>``."""
    from importlib.metadata import version

    import torch

    parts = [f"separena {version('separena')}+{source_hash('separena')}"]
    if config is not None:
        module = _module_of(config)
        if module and module.split(".")[0] != "separena":
            parts.append(f"{_label(module)}+{source_hash(module)}")
    parts.append(f"torch {torch.__version__}")
    return "/".join(parts)


@dataclass
class DataCache:
    """Built datasets of this process, keyed by (dataset, params): each suite's data is built once.

    The dataset builders cache generated audio on disk themselves; this keeps the loaded
    :class:`~separena.data.SeparationData` in memory across the runs of one invocation.
    """

    _data: dict[str, Any] = field(default_factory=dict)
    _memo: dict[Any, Any] = field(default_factory=dict)

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per ``key`` (e.g. a metric of the mixture that no model changes)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def get(self, registry: Registry, dataset: str, params: Mapping[str, Any], sample_rate: int) -> Any:
        key = canonical_json([dataset, dict(params), sample_rate])
        if key not in self._data:
            self._data[key] = registry.dataset(dataset).create(sample_rate, params)
        return self._data[key]
