"""Published results and weights: benchmark runs committed with the repository.

``publish`` copies the latest runs of a suite from a :class:`ResultStore` into a folder
(``published/`` at the repository root): one JSON line per run in ``runs.jsonl`` (the run's
stored payload, without its example audio, plus its provenance) and each trained run's
weights under ``weights/``, in float16 where that changes no test score by more than
``tolerance_db`` (else float32). Every line also records a *check*: the run's own mean
SI-SDRi over the first mixtures of its test set, which a CPU test reproduces from the
published weights.

:class:`PublishedStore` reads the folder back with the read interface of a result store
(``suites``, ``runs``, ``failures``, ``artifacts_dir``), so the leaderboard, the report and
:func:`~separena.bench.execute.load_run_weights` take it as they take a store.
:func:`load_published` gives the published weights of a model, refusing weights of another
architecture or configuration and files that are not the ones published (sha256).
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import SeparenaError
from ..registry import ModelConfig, Registry
from ..specs import BRACKETS
from .leaderboard import latest_runs
from .runs import canonical_json
from .store import ResultStore, StoredFailure, StoredRun, one_seed, runs_named

__all__ = ["PublishedStore", "publish", "load_published", "default_published_dir", "PUBLISHED_FORMAT",
           "CHECK_MIXTURES", "TOLERANCE_DB", "published_size", "describe", "reproduce_check", "published_run"]

PUBLISHED_FORMAT = 1
INDEX = "runs.jsonl"
CHECK_MIXTURES = 20  # test mixtures a CPU test scores again from the published weights
# A bare model name's weights come from a run on the data its task is benchmarked on by default
# (speech-quick's, music-quick's) where one is published: not from a variant with the same
# parameters (espeak-2mix-noisy), whose test scores do not compare with the default data's.
DEFAULT_DATASETS = ("espeak-2mix", "midi-4stem")
TOLERANCE_DB = 0.05  # float16 weights are published only where no test mean moves by more


def default_published_dir() -> Path:
    """``$SEPARENA_PUBLISHED`` if set, else ``published/`` at the root of the repository this
    package is installed from (an editable install, as ``scripts/setup.sh`` makes)."""
    if os.environ.get("SEPARENA_PUBLISHED"):
        return Path(os.environ["SEPARENA_PUBLISHED"])
    return Path(__file__).resolve().parents[3] / "published"


class PublishedStore:
    """The runs of a published folder (read only), with a result store's read interface.

    Args:
        folder: holds ``runs.jsonl`` and ``weights/``; a folder without ``runs.jsonl`` is an
            empty store.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / INDEX
        self._runs: list[StoredRun] = []
        if not self.path.is_file():
            return
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                payload = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SeparenaError(f"{self.path}: line {number}: not JSON ({exc.msg}); expected one published "
                                    "run per line") from None
            self._runs.append(_stored_run(self.path, number, payload))

    @property
    def artifacts_dir(self) -> Path:
        """Where the weights' relative paths start."""
        return self.folder

    def __bool__(self) -> bool:
        return bool(self._runs)

    def __enter__(self) -> PublishedStore:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def close(self) -> None:
        pass

    def suites(self) -> list[str]:
        return list(dict.fromkeys(r.suite for r in self._runs))

    def runs(self, suite: str | None = None, run_hashes: Any = None) -> list[StoredRun]:
        wanted = None if run_hashes is None else set(run_hashes)
        return [r for r in self._runs
                if (suite is None or r.suite == suite) and (wanted is None or r.run_hash in wanted)]

    def failures(self, suite: str | None = None, run_hashes: Any = None) -> list[StoredFailure]:
        return []  # only finished runs are published

    def resolve(self, ref: str, option: str = "--run") -> StoredRun:
        """The published run ``ref`` names (``MODEL@SUITE[:SEED]`` or a run-hash prefix), as
        :meth:`ResultStore.resolve <separena.bench.store.ResultStore.resolve>` names a stored one."""
        named = runs_named(self, ref, option)
        if named is None:
            prefix = str(ref).strip().lower()
            named = [r for r in self._runs if r.run_hash.startswith(prefix)] if len(prefix) >= 4 else []
            if len(named) != 1:
                raise SeparenaError(f"{option} {ref}: {'no' if not named else 'more than one'} published run in "
                                    f"{self.path} has a hash starting {prefix!r}; expected exactly one")
        return one_seed(named, ref, option)

    def weights_for(self, model: str, params: Mapping[str, Any] | None = None) -> StoredRun | None:
        """The published run of ``model`` whose weights ``separena separate`` uses: among those
        trained with ``params`` (as runs record them), where any is (e.g. the 2-speaker runs of a
        model also published with 3 speakers), and among those on one of :data:`DEFAULT_DATASETS`,
        where any is, the one trained with the most compute (then the best test score, then the
        latest)."""
        runs = [r for r in self._runs if r.model == model and r.payload.get("weights")]
        if params is not None:
            runs = [r for r in runs if r.payload["config"]["params"] == params] or runs
        runs = [r for r in runs if r.payload["config"]["dataset"] in DEFAULT_DATASETS] or runs
        if not runs:
            return None
        return max(runs, key=lambda r: (r.payload["train"].get("macs") or 0.0,
                                        r.payload["sets"]["test"]["si_sdri_mean"], r.finished_at))


_REQUIRED = {"run_hash": str, "config": dict, "sets": dict, "train": dict, "published": dict}


def _stored_run(path: Path, number: int, payload: Any) -> StoredRun:
    """One line of ``runs.jsonl`` as a stored run, or a one-line error naming what is wrong."""
    where = f"{path}: line {number}"
    if not isinstance(payload, dict):
        raise SeparenaError(f"{where}: expected a JSON object (a published run), got {type(payload).__name__}")
    for key, kind in _REQUIRED.items():
        if not isinstance(payload.get(key), kind):
            raise SeparenaError(f"{where}: key {key!r} missing or not a {kind.__name__}; expected a run written "
                                "by `separena.bench.published.publish`")
    if payload["published"].get("format") != PUBLISHED_FORMAT:
        raise SeparenaError(f"{where}: published.format {payload['published'].get('format')!r}; expected "
                            f"{PUBLISHED_FORMAT}")
    cfg = payload["config"]
    return StoredRun(payload["run_hash"], cfg["suite"], cfg["preset"], int(cfg["seed"]),
                     float(payload["published"]["published_at"]), payload)


def load_published(published: PublishedStore, registry: Registry, name: str,
                   device: str = "cpu") -> tuple[ModelConfig, Any, StoredRun]:
    """``(config, model, run)``: model ``name`` with its published weights.

    Raises :class:`SeparenaError` if none are published, if the preset's configuration has
    changed since (the weights would not be the model the name now means), and
    :class:`~separena.errors.CheckpointError` if the file is not the one published.
    """
    from .execute import load_run_weights

    config, run = published_run(published, registry, name)
    loaded, model = load_run_weights(published, run, registry, name=config.name, device=device)
    return loaded, model, run


def recorded_params(config: ModelConfig) -> dict[str, Any]:
    """``config``'s parameters as a run records them (JSON: tuples become lists): what
    :meth:`PublishedStore.weights_for` matches."""
    return json.loads(canonical_json(config.params))


def published_run(published: PublishedStore, registry: Registry, name: str) -> tuple[ModelConfig, StoredRun]:
    """``(config, run)``: the published run whose weights (and scores) stand for model ``name``
    (those trained as the preset is configured, where several are published), refused as
    :func:`load_published` refuses it, without reading the weights."""
    config = registry.model_config(name)
    now = recorded_params(config)
    run = published.weights_for(config.name, now)
    if run is None:
        raise SeparenaError(f"model {config.name!r}: no published weights in {published.folder}")
    cfg = run.payload["config"]
    if cfg["architecture"] != config.architecture:
        raise SeparenaError(f"{published.path}: the published weights of {config.name!r} are of architecture "
                            f"{cfg['architecture']!r}; expected {config.architecture!r} as registered")
    changed = {k: (now.get(k), v) for k, v in cfg["params"].items() if now.get(k) != v}
    changed.update({k: (v, None) for k, v in now.items() if k not in cfg["params"]})
    if changed:
        diff = ", ".join(f"{k} {v!r} (the preset now has {a!r})" for k, (a, v) in list(changed.items())[:4])
        raise SeparenaError(f"{published.path}: the published weights of {config.name!r} were trained with {diff}; "
                            "expected the preset's configuration (train it: `separena train "
                            f"{config.name}`, or pass --checkpoint)")
    return config, run


def reproduce_check(published: PublishedStore, run: StoredRun, registry: Registry, device: str = "cpu",
                    data: Any = None) -> tuple[float, float]:
    """``(published, reproduced)``: the run's mean SI-SDRi over its check mixtures (the first of
    its test set), and the same scored again here from the published weights.

    ``data`` is the run's built dataset (built here if not given); a dataset that this code
    builds under another name than the run's is refused (it is not the data the run was scored on).
    """
    from ..data import MixtureSubset

    cfg, check = run.payload["config"], run.payload["published"]["check"]
    if data is None:
        data = registry.dataset(cfg["dataset"]).create(cfg["sample_rate"], cfg["dataset_params"])
    if data.name != run.scored_on:
        raise SeparenaError(f"{published.path}: {run.model}@{run.suite}:{run.seed} was scored on "
                            f"{run.scored_on}; this code builds {data.name}")
    model = _run_model(published, run, registry, data, device)
    subset = MixtureSubset(data.test_sets()[check["set"]], range(check["mixtures"]))
    return float(check["si_sdri_mean"]), _score(model, subset, device, data.permutation_invariant)


def describe(run: StoredRun) -> str:
    """One line saying which published run a model comes from."""
    p, t = run.payload["published"], run.payload["train"]
    test = run.payload["sets"]["test"]["si_sdri_mean"]
    commit = p["commit"][:10] + ("-dirty" if p["commit"].endswith("-dirty") else "")
    dtype = run.payload["weights"].get("dtype", "float32")
    return (f"{run.model}@{run.suite}:{run.seed}: {t['steps']} steps on {p['device']} "
            f"({p['train_seconds']:.0f} s), test SI-SDRi {test:.2f} dB, data {run.payload['config']['data_name']}, "
            f"commit {commit}, {dtype} weights")


def _run_model(store: Any, run: StoredRun, registry: Registry, data: Any, device: str) -> Any:
    """The model of ``run``: its kept weights, or (oracles and baselines) built fitted to
    ``data``, as the benchmark fits them."""
    from .execute import load_run_weights
    from .runner import fitted_config

    if run.payload.get("weights"):
        return load_run_weights(store, run, registry, name=run.model, device=device)[1]
    return fitted_config(registry, run.model, data.sample_rate, data.n_src).build().to(device).eval()


def _rounded(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` as it is once loaded from float16 weights (into float32 parameters)."""
    out = copy.deepcopy(model)
    out.load_state_dict({k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()})
    return out


def _score(model: Any, mixtures: Any, device: str, permutation_invariant: bool) -> float:
    """Mean SI-SDRi of ``model`` on ``mixtures``."""
    from ..evaluation import evaluate

    return evaluate(model, mixtures, device=device, progress=False,
                    permutation_invariant=permutation_invariant).mean


def publish(store: ResultStore, suite: str, folder: str | Path, registry: Registry, *, commit: str,
            device: str = "cpu", check_mixtures: int = CHECK_MIXTURES, tolerance_db: float = TOLERANCE_DB,
            rescore: bool = False) -> list[StoredRun]:
    """Publish the latest run of every model and seed of ``suite`` in ``store`` to ``folder``.

    Trained runs' weights are stored in float16 when every test set's mean SI-SDRi, scored
    again on ``device`` with the float16 weights, stays within ``tolerance_db`` of the run's
    own; otherwise in float32. Runs already published for the same suite, model and seed are
    replaced; other lines are kept. A run shared with another suite (oracles run once for
    every suite with the same data) is published as this suite's. Returns the runs written.

    A run whose data this machine builds under another name (trained where the data's
    libraries differ, e.g. on a GPU machine) is refused, unless ``rescore``: then its weights
    are scored here on this machine's build of the same dataset, with the benchmark's own
    evaluation, and those scores are published (``published.scored_on`` names the data, the
    run's ``config.data_name`` stays the data it trained on).
    """
    from ..checkpoints import file_sha256, save_checkpoint
    from ..cost import lookahead_seconds, stored_lookahead
    from .runs import DataCache

    folder = Path(folder)
    runs = sorted(latest_runs(store.runs(suite=suite)), key=lambda r: (r.payload["config"]["family"] in BRACKETS,
                                                                       r.model, r.seed))
    if not runs:
        raise SeparenaError(f"suite {suite!r}: no finished runs in {store.path}; expected a suite run by "
                            "`separena bench`")
    cache = DataCache()
    written: list[StoredRun] = []
    for run in runs:
        payload = copy.deepcopy(run.payload)
        cfg = payload["config"]
        payload.pop("examples", None)  # audio stays out of the repository
        cfg["artifacts_dir"] = ""  # a path of the machine it ran on
        # A run that two suites share (the oracles, run once) is listed under the first suite
        # that ran it; published, it belongs to this suite, so that publishing this suite again
        # replaces it and every published suite has its whole table.
        cfg["suite"] = suite
        data = cache.get(registry, cfg["dataset"], cfg["dataset_params"], cfg["sample_rate"])
        scored_on, model = None, None
        if data.name != cfg["data_name"]:
            if not rescore:
                raise SeparenaError(f"run {run.run_hash[:12]} ({run.model}): its data was {cfg['data_name']}, this "
                                    f"code builds {data.name}; expected the data the run was trained on (or "
                                    "--rescore: score its weights here on this machine's data)")
            model = _run_model(store, run, registry, data, device)
            payload["sets"], scored_on = _rescored(model, run, registry, data, device, cache), data.name
        test = data.test_sets()["test"]
        n_check = min(check_mixtures, len(test))
        own = payload["sets"]["test"]["si_sdri"][:n_check]
        provenance: dict[str, Any] = {
            "format": PUBLISHED_FORMAT, "commit": commit, "published_at": time.time(),
            "device": _device_name(payload),
            "train_seconds": payload["train"]["seconds"],
            "check": {"set": "test", "mixtures": n_check,
                      "si_sdri_mean": sum(sum(m) / len(m) for m in own) / max(n_check, 1)},
        }
        if scored_on is not None:
            provenance.update(scored_on=scored_on, scored_device=device)
        if payload.get("weights"):
            if model is None:
                model = _run_model(store, run, registry, data, device)
            config = registry.model_config(run.model, **cfg["params"])
            half = _rounded(model)
            deltas = {}
            for set_name, mixtures in data.test_sets().items():
                scored = _score(half, mixtures, device, data.permutation_invariant)
                deltas[set_name] = scored - payload["sets"][set_name]["si_sdri_mean"]
            use_half = all(abs(d) <= tolerance_db for d in deltas.values() if not math.isnan(d))
            to_save = copy.deepcopy(model).half() if use_half else model
            rel = Path("weights") / f"{run.model}@{suite}-s{run.seed}.pt"
            path = save_checkpoint(folder / rel, config, to_save, run_hash=run.run_hash)
            payload["weights"] = {"path": rel.as_posix(), "sha256": file_sha256(path),
                                  "dtype": "float16" if use_half else "float32"}
            provenance["float16_delta_db"] = deltas
        if "lookahead_seconds" not in payload["cost"]:  # a run from before lookahead was measured
            model = model if model is not None else _run_model(store, run, registry, data, device)
            if not model.needs_references:  # as the benchmark measures it
                payload["cost"]["lookahead_seconds"] = stored_lookahead(lookahead_seconds(model, data.n_src))
        payload["published"] = provenance
        written.append(_stored_run(folder / INDEX, 0, payload))
    _write_index(folder, written)
    return written


def _rescored(model: Any, run: StoredRun, registry: Registry, data: Any, device: str,
              cache: Any) -> dict[str, Any]:
    """The ``sets`` of ``run``'s payload, ``model`` scored again here on ``data`` (every test
    set, every metric of the run) by the benchmark's own evaluation of a run."""
    from .execute import evaluate_set
    from .runs import RunConfig

    config = RunConfig.from_dict({**run.payload["config"], "data_name": data.name, "device": device,
                                  "artifacts_dir": "", "save_examples": 0})
    metrics = [registry.metric(name) for name in config.metrics]
    return {name: evaluate_set(model, mixtures, config, name, {}, False, cache, metrics,
                                data.permutation_invariant)[0]
            for name, mixtures in data.test_sets().items()}


def _device_name(payload: dict[str, Any]) -> str:
    """The machine a run trained on, in words: the GPU's name, or ``cpu (<model>, N threads)``."""
    machine = payload.get("machine", {})
    device = str(machine.get("device", "cpu"))
    if machine.get("gpu"):
        return str(machine["gpu"])
    threads = machine.get("threads", "?")
    return f"{device} ({machine.get('cpu', '?')}, {threads} thread{'' if threads == 1 else 's'})"


def _write_index(folder: Path, runs: list[StoredRun]) -> None:
    """Merge ``runs`` into ``runs.jsonl`` (same suite, model and seed replaced), atomically."""
    index = folder / INDEX
    new = {(r.suite, r.model, r.seed) for r in runs}
    kept = [r for r in PublishedStore(folder).runs() if (r.suite, r.model, r.seed) not in new]
    lines = [json.dumps(r.payload, sort_keys=True, allow_nan=True) for r in kept + runs]
    folder.mkdir(parents=True, exist_ok=True)
    tmp = index.with_name(f".{index.name}.{os.getpid()}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, index)


def published_size(folder: str | Path) -> int:
    """Bytes of every file under ``folder``."""
    return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())
