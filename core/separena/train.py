"""The one training loop, evaluation, and checkpoints.

Every trainable model of every plugin trains here: the same batches for a given seed,
Adam, gradient-norm clipping, a learning rate that decays over the budget, a NaN guard
that stops the run and keeps the last good checkpoint, and a rich progress bar.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .data import MixtureSet, SeparationData, TrainStream
from .errors import CheckpointError, SeparenaError, TrainingError
from .metrics import best_permutation, pairwise_si_sdr, si_sdr
from .model import Separator, SeparatorOutput, separate
from .progress import progress_bar
from .registry import ModelConfig, Registry
from .specs import Budget

__all__ = [
    "TrainResult", "EvalResult", "objective_loss", "train", "evaluate",
    "save_checkpoint", "load_checkpoint", "CHECKPOINT_FORMAT",
]

CHECKPOINT_FORMAT = 1
GRAD_CLIP = 5.0


@dataclass
class TrainResult:
    """What a training run did."""

    steps: int = 0  # optimizer steps taken
    seconds: float = 0.0  # wall-clock seconds of training
    data_seconds: float = 0.0  # of which the loop waited for training batches
    losses: list[float] = field(default_factory=list)  # loss per step
    stopped_by: str = "untrained"  # "steps", "minutes", or "untrained" (non-trainable model)
    checkpoint: Path | None = None  # last checkpoint written

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else 0.0


@dataclass
class EvalResult:
    """Per-example scores of one model on one mixture set.

    Shapes:
        si_sdri, si_sdr: ``[examples, n_src]`` in dB, sources in reference order.
    """

    si_sdri: Tensor
    si_sdr: Tensor
    seconds: float  # wall-clock of inference only
    audio_seconds: float  # total duration of the evaluated mixtures

    @property
    def mean(self) -> float:
        return self.si_sdri.mean().item()

    @property
    def median(self) -> float:
        return self.si_sdri.mean(1).median().item()

    @property
    def standard_error(self) -> float:
        """Standard error of :attr:`mean` over the examples (sources of a mixture averaged first)."""
        per_example = self.si_sdri.mean(1)
        return (per_example.std() / len(per_example) ** 0.5).item() if len(per_example) > 1 else float("nan")

    @property
    def real_time_factor(self) -> float:
        return self.seconds / self.audio_seconds if self.audio_seconds else float("nan")

    def summary(self) -> dict[str, float]:
        """``{"mean", "median", "se"}`` SI-SDRi in dB, rounded to 0.01 (for reports and tables)."""
        return {"mean": round(self.mean, 2), "median": round(self.median, 2), "se": round(self.standard_error, 2)}


def objective_loss(config: ModelConfig, model: Separator, output: SeparatorOutput, sources: Tensor) -> Tensor:
    """The weighted sum of the model's objective terms."""
    total: Tensor | None = None
    for name, weight in config.objective.items():
        term = weight * config.losses[name].function()(output, sources, model)
        total = term if total is None else total + term
    if total is None:
        raise SeparenaError(f"model {config.name!r} has an empty objective")
    return total


def _lr_factor(progress: float) -> float:
    """Short warm-up, then cosine decay to 10 % over the budget (progress in [0, 1])."""
    if progress < 0.02:
        return 0.1 + 0.9 * progress / 0.02
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


class _StepBatches(torch.utils.data.Dataset):
    """Batch ``step`` of a training stream, as a map-style dataset: each batch is a pure function
    of (seed, step), so worker processes can build batches ahead in any order and the loader
    still hands them over in step order."""

    def __init__(self, stream: TrainStream, seed: int, batch_size: int, segment: int) -> None:
        self.stream, self.seed, self.batch_size, self.segment = stream, seed, batch_size, segment

    def __len__(self) -> int:
        return 2**62  # unbounded: the budget stops training, not the data

    def __getitem__(self, step: int) -> tuple[Tensor, Tensor]:
        return self.stream.batch(self.seed, step, self.batch_size, self.segment)


def _batches(stream: TrainStream, seed: int, batch_size: int, segment: int, workers: int,
             pin: bool) -> Generator[tuple[Tensor, Tensor], None, None]:
    """The training batches of steps 0, 1, 2, ...: built here, or by ``workers`` processes."""
    dataset = _StepBatches(stream, seed, batch_size, segment)
    if workers == 0:
        for step in range(len(dataset)):
            yield dataset[step]
        return
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=workers, pin_memory=pin,
                                         prefetch_factor=4)
    yield from loader  # closing the generator shuts the workers down


def _distributed() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` outside ``torch.distributed``."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def train(
    config: ModelConfig,
    data: SeparationData,
    budget: Budget,
    *,
    segment_seconds: float = 2.0,
    seed: int = 0,
    device: str | torch.device = "cpu",
    checkpoint_path: str | Path | None = None,
    checkpoint_every: int = 200,
    progress: bool = True,
    amp: bool = True,
    data_workers: int = 0,
    on_step: Callable[[int, float], None] | None = None,
) -> tuple[Separator, TrainResult]:
    """Build ``config`` under ``seed`` and train it on ``data`` until the budget is spent.

    Under ``torchrun`` (an initialised process group) the model is wrapped in DDP and each
    rank takes its share of every global batch, so the loss curve matches a single process
    on the same data; rank 0 alone shows progress and writes checkpoints. On CUDA, ``amp``
    runs the forward pass in bfloat16 autocast (losses stay in float32). With ``data_workers``
    > 0 that many processes build the next batches while the model trains (the batches are
    the same; on a GPU the batches, not the model, otherwise set the pace).

    Returns the model (in eval mode) and what the run did. Raises :class:`TrainingError` on
    a non-finite loss; the last good checkpoint (if any) is kept.
    """
    if data.sample_rate != config.params.get("sample_rate", data.sample_rate):
        raise SeparenaError(f"model {config.name!r} runs at {config.params['sample_rate']} Hz; "
                            f"expected data at that rate, got {data.name} at {data.sample_rate} Hz")
    if data_workers < 0:
        raise SeparenaError(f"data_workers: expected 0 or more processes, got {data_workers}")
    rank, world = _distributed()
    torch.manual_seed(seed)
    model = config.build().to(device)
    result = TrainResult(checkpoint=Path(checkpoint_path) if checkpoint_path and rank == 0 else None)
    if not config.trainable:
        return model.eval(), result
    if budget.steps is None and budget.minutes is None:
        raise SeparenaError("budget: expected steps and/or minutes, got neither")
    if budget.batch_size % world:
        raise SeparenaError(f"budget.batch_size: expected a multiple of the {world} processes, got {budget.batch_size}")
    net: torch.nn.Module = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[torch.device(device).index] if torch.device(device).type == "cuda" else None)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp and torch.device(device).type == "cuda")
    optimizer = torch.optim.Adam(model.parameters(), lr=budget.learning_rate)
    segment = int(segment_seconds * data.sample_rate)
    max_steps = budget.steps or 10**9
    max_seconds = budget.minutes * 60 if budget.minutes else math.inf
    model.train()
    batches = _batches(data.train, seed, budget.batch_size, segment, data_workers,
                       pin=torch.device(device).type == "cuda")
    start = time.perf_counter()
    bar = progress_bar(progress and rank == 0)
    with bar, contextlib.closing(batches):
        task = bar.add_task(f"train {config.name}", total=budget.steps)
        while result.steps < max_steps:
            elapsed = time.perf_counter() - start
            stop = torch.tensor(float(elapsed >= max_seconds))
            if world > 1:  # rank 0's clock decides, so no rank waits on a collective forever
                torch.distributed.broadcast(stop, src=0)
            if stop.item():
                result.stopped_by = "minutes"
                break
            frac = max(result.steps / max_steps if budget.steps else 0.0, elapsed / max_seconds)
            for group in optimizer.param_groups:
                group["lr"] = budget.learning_rate * _lr_factor(frac)
            t_data = time.perf_counter()
            mix, sources = next(batches)
            result.data_seconds += time.perf_counter() - t_data
            mix = mix[rank::world].to(device, non_blocking=True)
            sources = sources[rank::world].to(device, non_blocking=True)
            with autocast:
                output = net(mix, sources) if model.needs_references else net(mix)
            output = SeparatorOutput(*(t.float() if t is not None else None
                                       for t in (output.estimates, output.masks, output.embedding)))
            loss = objective_loss(config, model, output, sources)
            global_loss = loss.detach().clone()
            if world > 1:
                torch.distributed.all_reduce(global_loss)
                global_loss /= world
            if not torch.isfinite(global_loss):
                raise TrainingError(
                    f"model {config.name!r}: loss became {global_loss.item()} at step {result.steps}; stopped "
                    + (f"(last good checkpoint kept: {result.checkpoint})" if result.checkpoint
                       and result.checkpoint.exists() else "(no checkpoint written yet)"))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
            optimizer.step()
            result.steps += 1
            result.losses.append(global_loss.item())
            bar.update(task, advance=1, description=f"train {config.name} loss {result.losses[-1]:7.3f}")
            if on_step is not None:
                on_step(result.steps, result.losses[-1])
            if result.checkpoint and result.steps % checkpoint_every == 0:
                save_checkpoint(result.checkpoint, config, model, step=result.steps)
        else:
            result.stopped_by = "steps"
    result.seconds = time.perf_counter() - start
    if result.checkpoint:
        save_checkpoint(result.checkpoint, config, model, step=result.steps)
    return model.eval(), result


@torch.no_grad()
def evaluate(model: Separator, examples: MixtureSet, *, device: str | torch.device = "cpu",
             progress: bool = True, description: str = "evaluate",
             permutation_invariant: bool = True) -> EvalResult:
    """SI-SDR and SI-SDRi per example and source.

    Speakers are matched to estimates with the best permutation per mixture; sources with fixed
    roles (``permutation_invariant=False``, e.g. music stems) are scored in order.
    """
    model.eval().to(device)
    improvements, scores = [], []
    seconds = audio = 0.0
    bar = progress_bar(progress)
    with bar:
        task = bar.add_task(description, total=len(examples))
        for i in range(len(examples)):
            ex = examples[i]
            mix, refs = ex.mix.unsqueeze(0).to(device), ex.sources.unsqueeze(0).to(device)
            t0 = time.perf_counter()
            est = separate(model, mix, refs).estimates
            seconds += time.perf_counter() - t0
            audio += mix.shape[-1] / model.sample_rate
            if permutation_invariant:
                best, _ = best_permutation(pairwise_si_sdr(est.float(), refs))
            else:
                best = si_sdr(est.float(), refs)
            base = si_sdr(mix.unsqueeze(1).expand_as(refs), refs)
            scores.append(best[0].cpu())
            improvements.append((best - base)[0].cpu())
            bar.update(task, advance=1)
    return EvalResult(si_sdri=torch.stack(improvements), si_sdr=torch.stack(scores), seconds=seconds,
                      audio_seconds=audio)


def _digest(model: str, architecture: str, params: Any, state_dict: dict[str, Tensor]) -> str:
    """sha256 of a checkpoint's identity and weights (names, dtypes, shapes and bytes)."""
    import hashlib
    import json

    h = hashlib.sha256(json.dumps([model, architecture, params], sort_keys=True, default=repr).encode())
    for key in sorted(state_dict):
        t = state_dict[key].detach().cpu().contiguous()
        h.update(f"\0{key}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def save_checkpoint(path: str | Path, config: ModelConfig, model: Separator, **extra: Any) -> Path:
    """Write weights and the plain-data config atomically (temp file, then rename), with a
    sha256 of both that :func:`load_checkpoint` checks (a modified or corrupted file is refused)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = model.state_dict()
    payload = {
        "format": CHECKPOINT_FORMAT, "model": config.name, "architecture": config.architecture,
        "params": config.params, "state_dict": state, **extra,
        "sha256": _digest(config.name, config.architecture, config.params, state),
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path, registry: Registry, name: str | None = None,
                    device: str | torch.device = "cpu") -> tuple[ModelConfig, Separator]:
    """Load a checkpoint safely (``weights_only=True``) and rebuild its model.

    Raises :class:`CheckpointError` if the file is missing, not a separena checkpoint, unsafe
    to load, modified since it was written (its sha256 does not match; checkpoints written
    before the digest existed are loaded unchecked), or (when ``name`` is given) belongs to
    another architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: file not found")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint {path}: cannot be loaded safely (weights_only=True): {first[:200]}") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT or "state_dict" not in payload:
        raise CheckpointError(f"checkpoint {path}: expected a separena checkpoint (format {CHECKPOINT_FORMAT}), "
                              f"got {type(payload).__name__}")
    if "sha256" in payload:
        try:
            digest = _digest(payload["model"], payload["architecture"], payload["params"], payload["state_dict"])
        except Exception as exc:
            digest = f"unhashable ({type(exc).__name__})"
        if digest != payload["sha256"]:
            raise CheckpointError(f"checkpoint {path}: modified or corrupted since it was written; expected sha256 "
                                  f"{str(payload['sha256'])[:16]}..., got {digest[:16]}...")
    stored = payload["model"]
    config = registry.model_config(stored, **payload["params"])
    if name is not None:
        wanted = registry.model_config(name)
        if wanted.architecture != config.architecture:
            raise CheckpointError(f"checkpoint {path}: holds architecture {config.architecture!r} "
                                  f"(model {stored!r}); expected {wanted.architecture!r} for model {name!r}")
    model = config.build()
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path}: weights do not fit model {stored!r}: "
                              f"{str(exc).splitlines()[0][:200]}") from None
    return config, model.to(device).eval()
