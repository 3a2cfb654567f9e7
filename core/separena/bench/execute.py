"""Execute one benchmark run: train, evaluate every test set, measure the cost, keep the weights.

:func:`execute_run` is what every executor calls, in this process, a worker process or a
Ray task: it trains the model with the core trainer on the suite's data, budget and seed,
evaluates it with the core evaluator on every test set, adds BSS Eval SDRi and the cost
metrics, keeps a trained model's weights (read back by :func:`load_run_weights`) and saves a
few separated test mixtures as wav files for the report. Anything a plugin raises (at import,
build, forward) fails only its own run, as a :class:`~separena.bench.runs.RunOutcome` with a
one-line error (:func:`one_line`). It never touches the result store; the driver does.
"""

from __future__ import annotations

import logging
import math
import platform
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..checkpoints import file_sha256, load_checkpoint, save_checkpoint
from ..cost import (
    CudaPeakMemory, count_parameters, lookahead_seconds, macs_per_second, real_time_factor, stored_lookahead,
    train_throughput,
)
from ..data import MixtureSet, SeparationData, TensorMixtureSet
from ..errors import SeparenaError, TrainingInterrupted, first_line
from ..evaluation import evaluate
from ..model import Separator
from ..registry import Registry
from ..specs import MetricSpec
from ..train import CURVE_MIXTURES, train
from .runs import DataCache, RunConfig, RunOutcome
from .store import ResultStore, StoredRun

__all__ = ["execute_run", "evaluate_set", "load_run_weights", "cpu_model", "one_line", "MAX_LOSS_POINTS",
           "RTF_MIXTURES"]

log = logging.getLogger(__name__)
MAX_LOSS_POINTS = 2000  # per-step losses are averaged down to at most this many points
RTF_MIXTURES = 4  # test mixtures timed one at a time for the real-time factor


def one_line(exc: BaseException) -> str:
    """``<Type>: <first line of the message>`` (at most 300 characters of it): how a run's error is stored."""
    text = first_line(exc, "")
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__



def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else :func:`platform.processor`."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def execute_run(config: RunConfig, registry: Registry, data_cache: DataCache, *, progress: bool = False,
                on_step: Callable[[int, int | None, float], None] | None = None) -> RunOutcome:
    """Train and evaluate one run; every exception becomes a failed outcome with a one-line error.

    Sets torch to ``config.threads`` threads and deterministic algorithms for the run (CPU runs
    are then bit-for-bit repeatable) and restores both afterwards. A trained model's final
    weights are kept under ``<artifacts>/weights/`` (see :func:`load_run_weights`); an
    interrupted training leaves its state under ``<artifacts>/state/``, from which the run's
    next execution resumes.
    """
    started = time.perf_counter()
    stage = "resolve"
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    timing: dict[str, float] = {}
    try:
        if config.error is not None:
            raise SeparenaError(config.error)
        torch.set_num_threads(config.threads)
        torch.use_deterministic_algorithms(True, warn_only=True)
        # Deterministic mode also fills every new allocation, which only guards kernels that read
        # memory they never wrote; none of ours do (runs stay bit-for-bit repeatable, tested), and
        # the filling cost 6-9 % of a training step and doubled TF-GridNet's step memory.
        torch.utils.deterministic.fill_uninitialized_memory = False
        model_config = registry.model_config(config.preset, **config.params)
        stage = "data"
        t0 = time.perf_counter()
        data: SeparationData = data_cache.get(registry, config.dataset, config.dataset_params, config.sample_rate)
        timing["data"] = time.perf_counter() - t0
        if data.name != config.data_name:
            raise SeparenaError(f"dataset {config.dataset} built as {data.name}; expected {config.data_name} "
                                "(the data changed since the run was planned)")
        stage = "train"
        with CudaPeakMemory(config.device) as cuda_memory:
            model, trained = train(model_config, data, config.budget_spec, segment_seconds=config.segment_seconds,
                                   seed=config.seed, device=config.device, progress=progress,
                                   data_workers=config.data_workers, curve_set=_head(data.valid, CURVE_MIXTURES, int(config.segment_seconds * config.sample_rate)),
                                   state_path=_state_path(config), keep_state=True, on_step=on_step)
            timing["train"] = trained.seconds
            timing["train_data"] = trained.data_seconds
            timing["train_cost_probe"] = trained.probe_seconds
            timing["curve"] = trained.curve_seconds
            t0 = time.perf_counter()
            weights = _save_weights(model_config, model, config) if model_config.trainable else None
            timing["weights"] = time.perf_counter() - t0
            stage = "evaluate"
            sets, examples = {}, {}
            metrics = [registry.metric(name) for name in config.metrics]
            for set_name, mixtures in data.test_sets().items():
                sets[set_name], saved = evaluate_set(model, mixtures, config, set_name, timing, progress,
                                                      data_cache, metrics, data.permutation_invariant)
                if saved:
                    examples[set_name] = saved
        stage = "cost"
        t0 = time.perf_counter()
        throughput = train_throughput(trained.steps, trained.seconds, config.budget_spec.batch_size,
                                      config.segment_seconds)
        rtf_set = data.test_sets()["test"]
        probe = [rtf_set[i] for i in range(min(RTF_MIXTURES, len(rtf_set)))]
        cost = {
            "params": count_parameters(model),
            "macs_per_second": macs_per_second(model, data.n_src, config.device),
            "train_macs_per_example": trained.cost.macs_per_example if trained.cost else None,
            "train_memory_mb": trained.cost.memory_mb if trained.cost else None,
            "train_activation_mb": trained.cost.activation_mb if trained.cost else None,
            "peak_cuda_mb": cuda_memory.mb,
            "rtf": real_time_factor(model, [ex.mix for ex in probe], [ex.sources for ex in probe], config.device),
        }
        if not model.needs_references:  # an oracle's latency means nothing: it is handed the sources
            try:
                cost["lookahead_seconds"] = stored_lookahead(lookahead_seconds(model, data.n_src))
            except Exception as exc:  # a measurement must not cost the run: the column shows "-"
                log.warning("%s: lookahead not measured: %s: %s", config.preset, type(exc).__name__, exc)
        timing["cost"] = time.perf_counter() - t0
        losses, loss_steps = _decimate(trained.losses)
        payload = {
            "status": "ok", "run_hash": config.run_hash, "config": config.to_dict(),
            "wall_seconds": time.perf_counter() - started,
            "train": {"steps": trained.steps, "resumed_from": trained.resumed_from, "examples": trained.examples,
                      "macs": trained.macs,
                      "seconds": trained.seconds, "cpu_seconds": trained.cpu_seconds,
                      "stopped_by": trained.stopped_by, "slow_seconds": trained.slow_seconds,
                      "steps_per_second": throughput.steps_per_second,
                      "audio_seconds_per_second": throughput.audio_seconds_per_second,
                      "losses": losses, "loss_steps": loss_steps, "curve": trained.curve},
            "machine": {"cpu": cpu_model(), "threads": config.threads, "device": config.device,
                        "gpu": torch.cuda.get_device_name(torch.device(config.device))
                        if config.device.startswith("cuda") else None,
                        "load_average": trained.load_average},
            "sets": sets, "cost": cost, "examples": examples, "timing": timing, "weights": weights,
            "metrics": {m.key: {"name": m.name, "label": m.label or m.name, "unit": m.unit,
                                "higher_is_better": m.higher_is_better} for m in metrics},
            "source_names": list(data.source_names) if data.source_names else None,  # roles: scores per source mean something
        }
        if (state := _state_path(config)) is not None:
            state.unlink(missing_ok=True)  # the run is done; until now a cut evaluation needed no retraining
        return RunOutcome(config, ok=True, payload=payload)
    except TrainingInterrupted:
        raise  # Ctrl-C stops the benchmark; the run is no failure, and resumes from its state next time
    except Exception as exc:  # a plugin's bug costs only its own run
        error = f"{stage}: {one_line(exc)}"
        log.warning("run %s seed %s failed: %s", config.preset, config.seed, error)
        return RunOutcome.failed(config, error)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
        torch.utils.deterministic.fill_uninitialized_memory = fill


def _head(mixtures: MixtureSet, n: int, samples: int) -> TensorMixtureSet:
    """The first ``samples`` of the first ``n`` mixtures of a set, in memory: the learning curve's
    fixed subset, as long as a training crop (scored six times per run, it stays cheap)."""
    items = [mixtures[i] for i in range(min(n, len(mixtures)))]
    return TensorMixtureSet([ex.mix[..., :samples] for ex in items], [ex.sources[..., :samples] for ex in items],
                            [ex.name for ex in items])


def _state_path(config: RunConfig) -> Path | None:
    """Where an unfinished training of the run keeps its state (``state/<run hash>.pt`` beside the
    artifacts): a benchmark stopped by Ctrl-C (or a deadline's SIGINT) resumes its run from there."""
    return Path(config.artifacts_dir) / "state" / f"{config.run_hash[:16]}.pt" if config.artifacts_dir else None


def _save_weights(model_config: Any, model: Separator, config: RunConfig) -> dict[str, str] | None:
    """Keep a trained run's final weights at ``weights/<run hash>.pt`` beside the artifacts."""
    if not config.artifacts_dir:
        return None
    rel = Path("weights") / f"{config.run_hash[:16]}.pt"
    path = save_checkpoint(Path(config.artifacts_dir) / rel, model_config, model, run_hash=config.run_hash,
                           suite=config.suite, seed=config.seed)
    return {"path": str(rel), "sha256": file_sha256(path)}


def load_run_weights(store: ResultStore, run: StoredRun, registry: Registry, name: str | None = None,
                     device: str = "cpu") -> tuple[Any, Separator]:
    """The model of a stored run with its kept weights (``weights_only=True``, file digest checked).

    Returns ``(model config, model)``. Raises a one-line :class:`SeparenaError` if the run kept
    no weights (a model that is not trained, or a run from before weights were kept). Weights
    kept before checkpoints recorded source names take those of the run's dataset.
    """
    weights = run.payload.get("weights")
    if not weights:
        raise SeparenaError(f"run {run.run_hash[:12]} ({run.model}@{run.suite}:{run.seed}): kept no weights; "
                            "expected a trained run from `separena bench` (models that are not trained need none)")
    config, model = load_checkpoint(store.artifacts_dir / weights["path"], registry, name=name, device=device,
                                    sha256=weights["sha256"])
    dataset = registry.datasets.get(run.payload.get("config", {}).get("dataset"))
    if model.source_names is None and dataset is not None and len(dataset.source_names) == model.n_src:
        model.source_names = dataset.source_names
    return config, model


def evaluate_set(model: Separator, mixtures: MixtureSet, config: RunConfig, set_name: str,
                  timing: dict[str, float], progress: bool, data_cache: DataCache, metrics: Sequence[MetricSpec],
                  permutation_invariant: bool = True) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The core evaluator (SI-SDR, SI-SDRi, matched estimates), then every other metric of the
    suite on the matched estimates, and the saved examples of one set.

    Sources with fixed roles (music stems) are scored in order, speakers with the best
    permutation by SI-SDR. An improvement metric's mixture score depends only on the data, so
    it is computed once per mixture and shared by every model of the suite.
    """
    t0 = time.perf_counter()
    scores = evaluate(model, mixtures, device=config.device, progress=progress, keep_estimates=True,
                      description=f"evaluate {config.preset} {set_name}", permutation_invariant=permutation_invariant)
    timing[f"evaluate_{set_name}"] = time.perf_counter() - t0
    timing[f"forward_{set_name}"] = scores.seconds
    estimates = scores.estimates or []
    per_example = scores.si_sdri.mean(1)
    result: dict[str, Any] = {
        "n": len(mixtures), "names": [mixtures[i].name for i in range(len(estimates))],
        "si_sdri": scores.si_sdri.tolist(), "si_sdr": scores.si_sdr.tolist(), "si_sdri_mean": scores.mean,
        "si_sdri_median": per_example.median().item() if len(per_example) else math.nan,
        "eval_seconds": scores.seconds, "audio_seconds": scores.audio_seconds,
    }
    for metric in metrics:
        if metric.key not in result:  # SI-SDR and SI-SDRi are the evaluator's own
            t0 = time.perf_counter()
            result.update(_metric_scores(metric, estimates, mixtures, config, set_name, data_cache, model.n_src))
            timing[f"{metric.key}_{set_name}"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    saved = []
    if set_name == "test" and config.artifacts_dir and config.save_examples > 0:
        saved = _save_examples(estimates, mixtures, config)
    timing["artifacts"] = timing.get("artifacts", 0.0) + time.perf_counter() - t0
    return result, saved


def _metric_scores(metric: MetricSpec, estimates: Sequence[Tensor], mixtures: MixtureSet, config: RunConfig,
                   set_name: str, data_cache: DataCache, n_src: int) -> dict[str, Any]:
    """``{key: [mixtures][n_src], key_mean, key_median}`` of one metric over matched estimates
    (NaN scores, e.g. PESQ of a silent reference, are left out of the mean and median)."""
    table = metric_table(metric, estimates, mixtures, config.sample_rate, n_src,
                         memo=lambda i, compute: data_cache.memo((metric.name, config.data_name, set_name, i), compute))
    empty = not len(table)
    return {metric.key: table.tolist(),
            f"{metric.key}_mean": math.nan if empty else table.nanmean().item(),
            f"{metric.key}_median": math.nan if empty else table.nanmean(1).nanmedian().item()}


def metric_table(metric: MetricSpec, estimates: Sequence[Tensor], mixtures: MixtureSet, sample_rate: int,
                 n_src: int, memo: Callable[[int, Callable[[], Tensor]], Tensor] | None = None) -> Tensor:
    """``metric`` of each matched estimate ``[1, n_src, time]`` against its mixture's references:
    ``[mixtures, n_src]`` (NaN where the metric is undefined). An improvement metric subtracts
    the mixture's own score, which ``memo(i, compute)`` may cache (it depends only on the data)."""
    fn = metric.function()
    values = []
    for i, estimate in enumerate(estimates):
        refs = mixtures[i].sources.float()
        value = torch.as_tensor(fn(estimate[0].float(), refs, sample_rate), dtype=torch.float32)
        if metric.improvement:
            mix = mixtures[i].mix.float().unsqueeze(0).expand_as(refs)
            baseline = lambda: torch.as_tensor(fn(mix, refs, sample_rate), dtype=torch.float32)  # noqa: E731
            value = value - (memo(i, baseline) if memo is not None else baseline())
        values.append(value)
    return torch.stack(values) if values else torch.zeros(0, n_src)


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _save_examples(estimates: list[Tensor], mixtures: MixtureSet, config: RunConfig) -> list[dict[str, Any]]:
    """Write the first K separated test mixtures (and their mixture/references) as int16 wavs.

    Paths are relative to ``config.artifacts_dir``; estimates live under the run hash and the
    mixture and references under the data name, so repeated or duplicated runs rewrite the same
    files (each written atomically by :func:`~separena.data.audio.write_wav`).
    """
    from ..data.audio import write_wav

    root = Path(config.artifacts_dir)
    run_dir = Path("audio") / config.run_hash[:16]
    data_dir = Path("audio") / _SAFE.sub("_", config.data_name)
    saved = []
    for i in range(min(config.save_examples, len(estimates))):
        ex = mixtures[i]
        stem = _SAFE.sub("_", ex.name)
        entry: dict[str, Any] = {"name": ex.name, "mix": str(data_dir / f"{stem}_mix.wav"),
                                 "references": [], "estimates": []}
        _write_once(root / entry["mix"], ex.mix, config.sample_rate, write_wav)
        for k, ref in enumerate(ex.sources):
            rel = data_dir / f"{stem}_ref{k + 1}.wav"
            _write_once(root / rel, ref, config.sample_rate, write_wav)
            entry["references"].append(str(rel))
        for k, est in enumerate(estimates[i][0]):
            rel = run_dir / f"{stem}_s{k + 1}.wav"
            peak = est.abs().max().item()
            _write_once(root / rel, est / peak * 0.9 if peak > 0.99 else est, config.sample_rate, write_wav)
            entry["estimates"].append(str(rel))
        saved.append(entry)
    return saved


def _write_once(path: Path, wav: Tensor, sample_rate: int, write: Callable[..., Any]) -> None:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path, wav.detach().cpu().float(), sample_rate)


def _decimate(losses: list[float]) -> tuple[list[float], list[int]]:
    """Per-step losses averaged into at most :data:`MAX_LOSS_POINTS` points (and their steps)."""
    if len(losses) <= MAX_LOSS_POINTS:
        return list(losses), list(range(1, len(losses) + 1))
    width = math.ceil(len(losses) / MAX_LOSS_POINTS)
    points, steps = [], []
    for i in range(0, len(losses), width):
        chunk = losses[i:i + width]
        points.append(sum(chunk) / len(chunk))
        steps.append(i + len(chunk))
    return points, steps
