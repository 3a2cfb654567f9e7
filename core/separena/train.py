"""The one training loop.

Every trainable model of every plugin trains here, from the seed's random weights or from
given ones (fine-tuning): the same batches for a given seed, Adam, gradient-norm clipping,
a learning rate that decays over the budget, a NaN guard that stops the run and keeps the
last good checkpoint, an interrupted run that resumes where it stopped (from its training
state), and a rich progress bar. Scoring lives in :mod:`separena.evaluation`, checkpoint
files in :mod:`separena.checkpoints`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .checkpoints import (
    load_training_state, load_weights, save_checkpoint, save_or_fall_back, save_training_state, weights_sha256,
)
from .cost import TrainingCost, training_cost
from .data import MixtureSet, SeparationData, TrainStream
from .errors import SeparenaError, TrainingError, TrainingInterrupted
from .evaluation import evaluate
from .model import Separator, SeparatorOutput
from .progress import progress_bar
from .registry import ModelConfig
from .specs import Budget

log = logging.getLogger(__name__)

__all__ = ["TrainResult", "objective_loss", "train", "curve_fractions", "CURVE_POINTS", "CURVE_MIXTURES"]

GRAD_CLIP = 5.0
STATE_EVERY_SECONDS = 60.0  # how often an unfinished training writes its state (besides on Ctrl-C)


@dataclass
class TrainResult:
    """What a training run did."""

    steps: int = 0  # optimizer steps taken
    seconds: float = 0.0  # wall-clock seconds of training (learning-curve evaluations excluded)
    data_seconds: float = 0.0  # of which the loop waited for training batches
    cpu_seconds: float = 0.0  # CPU time of this process while training
    losses: list[float] = field(default_factory=list)  # loss per step
    stopped_by: str = "untrained"  # "steps", "examples", "macs", "minutes", or "untrained" (not trainable)
    checkpoint: Path | None = None  # last checkpoint written (the fallback path if checkpoint_path failed)
    checkpoint_note: str | None = None  # set when the weights went to a fallback path: why, and where
    batch_size: int = 0  # mixtures per step
    cost: TrainingCost | None = None  # measured training cost per step (trainable models)
    curve: list[dict[str, float]] = field(default_factory=list)  # learning-curve points (see train())
    load_average: float = math.nan  # mean 1-minute load average of the machine while training
    slow_seconds: float = 0.0  # training time spent far below the run's best step rate
    resumed_from: int = 0  # the step an interrupted training resumed from (0: trained in one go)
    init_sha256: str | None = None  # digest of the weights it started from (None: the seed's random ones)
    probe_seconds: float = 0.0  # measuring the training cost before the first step (in this process)
    curve_seconds: float = 0.0  # scoring the learning curve (in this process), not in ``seconds``

    @property
    def checkpoint_extra(self) -> dict[str, Any]:
        """What a checkpoint of this run records besides its weights."""
        return {"init_sha256": self.init_sha256} if self.init_sha256 else {}

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else 0.0

    @property
    def examples(self) -> int:
        """Training mixtures seen."""
        return self.steps * self.batch_size

    @property
    def macs(self) -> float:
        """Training compute spent: training MACs per mixture times mixtures seen."""
        return self.cost.macs_per_example * self.examples if self.cost else math.nan


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
             device: torch.device, first: int = 0) -> Generator[tuple[Tensor, Tensor], None, None]:
    """The training batches of steps ``first``, ``first + 1``, ...: built here, or by ``workers`` processes.

    Built here on a GPU, a stream that can (``to(device)``, e.g. espeak-2mix's) builds them on
    the GPU from pools held in its memory, so that no batch waits for the CPU."""
    if workers == 0 and device.type != "cpu" and callable(getattr(stream, "to", None)):
        stream = stream.to(device)
    dataset = _StepBatches(stream, seed, batch_size, segment)
    if workers == 0:
        for step in range(first, len(dataset)):
            yield dataset[step]
        return
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, sampler=range(first, len(dataset)),
                                         num_workers=workers,
                                         pin_memory=device.type == "cuda",
                                         prefetch_factor=4)
    yield from loader  # closing the generator shuts the workers down


def _distributed() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` outside ``torch.distributed``."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


CURVE_POINTS = 6  # learning-curve evaluations per run, spread geometrically over the budget
CURVE_MIXTURES = 32  # validation mixtures each learning-curve point scores
SLOW_FACTOR = 0.5  # a window this far below the run's best step rate counts as slowed by contention
_WINDOW_SECONDS = 5.0  # how often the step rate and the load are sampled


def curve_fractions(points: int = CURVE_POINTS) -> list[float]:
    """Fractions of a budget where a learning curve is scored: halving back from the end."""
    return [2.0 ** -(points - 1 - i) for i in range(points)]


class _Pace:
    """Watches a training loop: CPU time, the machine's load, and windows whose step rate falls far
    below the best window seen (another process competing for the cores); warns once."""

    def __init__(self, name: str, result: TrainResult) -> None:
        self.name, self.result = name, result
        self.threads = torch.get_num_threads()
        self.cpu0 = time.process_time() - result.cpu_seconds  # a resumed run goes on counting
        self.loads: list[float] = []
        self.best = 0.0
        self.warned = False
        self._mark(result.seconds, result.steps)

    def _mark(self, elapsed: float, steps: int) -> None:
        self.t, self.steps, self.cpu = elapsed, steps, time.process_time()

    def update(self, elapsed: float, steps: int) -> None:
        span = elapsed - self.t
        if span < _WINDOW_SECONDS:
            return
        rate = (steps - self.steps) / span
        share = (time.process_time() - self.cpu) / span / self.threads
        self.loads.append(os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan)
        slow_rate = rate < SLOW_FACTOR * self.best
        starved = self.threads == 1 and share < SLOW_FACTOR  # a 1-thread run off its core half the time
        if (slow_rate or starved) and self.best > 0:
            self.result.slow_seconds += span
            if not self.warned:
                self.warned = True
                why = (f"under half its best {self.best:.2f} steps/s" if slow_rate
                       else f"with {100 * share:.0f}% of a core")
                log.warning("train %s: %.2f steps/s over the last %.0f s, %s (CPU share %.0f%%, load average %.1f): "
                            "another process competes for the cores; a step, example or compute budget keeps the "
                            "result the same, only slower", self.name, rate, span, why, 100 * share, self.loads[-1])
        self.best = max(self.best, rate)
        self._mark(elapsed, steps)

    def cpu_seconds(self) -> float:
        return time.process_time() - self.cpu0

    def finish(self) -> None:
        self.result.cpu_seconds = self.cpu_seconds()
        if not self.loads and hasattr(os, "getloadavg"):
            self.loads.append(os.getloadavg()[0])
        self.result.load_average = sum(self.loads) / len(self.loads) if self.loads else math.nan


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
    state_path: str | Path | None = None,
    keep_state: bool = False,
    progress: bool = True,
    amp: bool = True,
    data_workers: int = 0,
    curve_set: MixtureSet | None = None,
    curve_points: int = CURVE_POINTS,
    permutation_invariant: bool | None = None,
    on_step: Callable[[int, int | None, float], None] | None = None,
    initial_weights: Mapping[str, Tensor] | None = None,
) -> tuple[Separator, TrainResult]:
    """Build ``config`` under ``seed`` and train it on ``data`` until the budget is spent.

    Before the first step the training cost is measured (:func:`~separena.cost.training_cost`:
    MACs per mixture and memory of a step), which turns a ``macs`` or ``examples`` budget into a
    step count: such a run trains the same steps on any machine and under any load. A
    ``minutes`` limit stops at the clock instead (its result depends on the machine).

    With ``curve_set`` (e.g. the first 32 validation mixtures), the model is scored on it at
    ``curve_points`` points spread geometrically over the budget (the last at the end); that
    time is not charged to the budget. Each point of :attr:`TrainResult.curve` holds ``step``,
    ``examples``, ``macs``, ``seconds`` (training time so far) and ``si_sdri`` (mean, dB).

    Under ``torchrun`` (an initialised process group) the model is wrapped in DDP and each
    rank takes its share of every global batch, so the loss curve matches a single process
    on the same data; rank 0 alone shows progress and writes checkpoints. On CUDA, ``amp``
    runs the forward pass in bfloat16 autocast (losses stay in float32). With ``data_workers``
    > 0 that many processes build the next batches while the model trains (the batches are
    the same; on a GPU the batches, not the model, otherwise set the pace); with none, on a GPU,
    a stream that offers ``to(device)`` builds them there. ``on_step(step,
    total, loss)`` is called after every step (``total`` is None for a budget of minutes only).

    With ``initial_weights`` (a state dict of ``config``'s model, e.g. published weights) the
    training starts from them instead of the seed's random ones: fine-tuning. The seed still
    orders the batches. Their digest (:attr:`TrainResult.init_sha256`) is written into every
    checkpoint and is part of the run a training state belongs to. Weights that do not fit the
    model are refused with a one-line :class:`~separena.errors.SeparenaError`.

    With ``checkpoint_path`` the weights are saved every ``checkpoint_every`` steps and at the
    end. A finished training is always saved: if the final save fails with an :class:`OSError`
    (the folder is a file or not writable, a folder exists at that path, ...), the weights go to
    ``<cwd>/<model>-<YYYYmmdd-HHMMSS>.pt`` (or the system temp folder if the current one is not
    writable), :attr:`TrainResult.checkpoint` is that path and :attr:`TrainResult.checkpoint_note`
    says why, in one line, for the caller to show (it is ``None`` when the weights went where
    asked). A failed periodic save does not stop training (later periodic saves are skipped).

    With ``state_path`` the training is resumable: its state (weights, optimizer, counters,
    loss and learning curves, random state) is written there every
    :data:`STATE_EVERY_SECONDS` and when Ctrl-C (SIGINT) stops it, which then happens after
    the step under way (a second Ctrl-C stops at once, without a state); a later call with the
    same arguments and ``state_path`` goes on from that step. Batches are a pure function of the
    seed and the step, so on the CPU a resumed training ends bit for bit where an uninterrupted
    one does. The file is removed when the budget is spent; with ``keep_state`` the final state
    is written instead, for a caller that removes it once the run's results are safe (a call
    with it returns the trained model at once). A state of another run (model, data, budget,
    seed) is refused with a one-line :class:`~separena.errors.CheckpointError`.

    Returns the model (in eval mode) and what the run did. Raises :class:`TrainingError` on
    a non-finite loss; the last good checkpoint (if any) is kept. Ctrl-C (KeyboardInterrupt)
    during training saves the last weights to ``checkpoint_path`` (if given, after at least one
    step; rank 0 only; with the same fallback) and raises
    :class:`~separena.errors.TrainingInterrupted`, whose one-line message says at which step it
    stopped and where the weights are, with ``.checkpoint`` (``None``: not saved) and ``.steps``.
    """
    if data.sample_rate != config.params.get("sample_rate", data.sample_rate):
        raise SeparenaError(f"model {config.name!r} runs at {config.params['sample_rate']} Hz; "
                            f"expected data at that rate, got {data.name} at {data.sample_rate} Hz")
    if data.n_src != config.params.get("n_src", data.n_src):
        raise SeparenaError(f"model {config.name!r} separates {config.params['n_src']} sources; expected data of "
                            f"as many, got {data.name} with {data.n_src} (a suite fits n_src to its data)")
    if data_workers < 0:
        raise SeparenaError(f"data_workers: expected 0 or more processes, got {data_workers}")
    rank, world = _distributed()
    torch.manual_seed(seed)
    model = config.build().to(device)
    model.source_names = data.source_names  # what its outputs are, kept by its checkpoints
    result = TrainResult(checkpoint=Path(checkpoint_path) if checkpoint_path and rank == 0 else None,
                         batch_size=budget.batch_size)
    if initial_weights is not None:
        if (misfit := load_weights(model, initial_weights)) is not None:
            raise SeparenaError(f"initial weights: do not fit model {config.name!r} ({config.architecture}); "
                                f"expected weights of that configuration, got: {misfit}")
        result.init_sha256 = weights_sha256(initial_weights)
    if not config.trainable:
        return model.eval(), result
    if not budget.kinds:
        raise SeparenaError("budget: expected at least one limit of steps, examples, macs or minutes, got none")
    if budget.batch_size % world:
        raise SeparenaError(f"budget.batch_size: expected a multiple of the {world} processes, got {budget.batch_size}")
    segment = int(segment_seconds * data.sample_rate)
    t_probe = time.perf_counter()
    result.cost = training_cost(model, data.n_src, budget.batch_size // world, segment, device)
    result.probe_seconds = time.perf_counter() - t_probe
    step_limit, limit_kind = budget.max_steps(result.cost.macs_per_example)
    max_steps = step_limit or 10**9
    max_seconds = budget.minutes * 60 if budget.minutes else math.inf
    net: torch.nn.Module = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[torch.device(device).index] if torch.device(device).type == "cuda" else None)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp and torch.device(device).type == "cuda")
    optimizer = torch.optim.Adam(model.parameters(), lr=budget.learning_rate)
    invariant = data.permutation_invariant if permutation_invariant is None else permutation_invariant
    curve_at = curve_fractions(curve_points) if curve_set is not None and rank == 0 else []
    paused = 0.0  # seconds of learning-curve evaluation, not charged to the budget
    state_file = Path(state_path) if state_path is not None else None
    state_key = _state_key(config, data, budget, seed, segment, world, result.init_sha256)
    if state_file is not None and state_file.is_file():
        state = load_training_state(state_file, state_key)
        _resume(state, model, optimizer, result, torch.device(device))
        curve_at = [float(f) for f in state["curve_at"]] if rank == 0 else []

    def score_curve(elapsed: float) -> None:
        nonlocal paused
        t0 = time.perf_counter()
        scores = evaluate(model, curve_set, device=device, progress=False, permutation_invariant=invariant)
        model.train()
        result.curve.append({"step": result.steps, "examples": result.examples, "macs": result.macs,
                             "seconds": elapsed, "si_sdri": scores.mean})
        spent = time.perf_counter() - t0
        paused += spent
        result.curve_seconds += spent

    model.train()
    batches = _batches(data.train, seed, budget.batch_size, segment, data_workers, torch.device(device),
                       first=result.steps)
    pace = _Pace(config.name, result)
    start = time.perf_counter() - result.seconds  # a resumed run's clock goes on from its state
    bar = progress_bar(progress and rank == 0)
    periodic = result.checkpoint is not None  # periodic saves; off after the first that fails
    on_interrupt = _SaveOnInterrupt(config, model, result, step_limit, start, lambda: paused,
                                    saved_by_other_rank=bool(checkpoint_path) and rank != 0)
    writes_state = state_file is not None and rank == 0

    def save_state() -> None:
        assert state_file is not None
        cuda = torch.device(device).type == "cuda"
        save_training_state(state_file, state_key, {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(), "steps": result.steps,
            "seconds": time.perf_counter() - start - paused, "data_seconds": result.data_seconds,
            "cpu_seconds": pace.cpu_seconds(), "slow_seconds": result.slow_seconds, "losses": result.losses,
            "curve": result.curve, "curve_at": curve_at, "rng": torch.get_rng_state(),
            **({"cuda_rng": torch.cuda.get_rng_state(torch.device(device))} if cuda else {})})

    def stop_here() -> None:  # Ctrl-C asked for a stop: the state of the steps done, then the weights
        save_state()
        on_interrupt.state = state_file
        raise KeyboardInterrupt

    state_saved_at = time.perf_counter()
    stop_request = _StopRequest(writes_state and world == 1)
    # on Ctrl-C: bar and workers closed, then the weights saved; with a state, after the step under way
    with stop_request, on_interrupt, bar, contextlib.closing(batches):
        task = bar.add_task(f"train {config.name}", total=step_limit, completed=result.steps)
        while result.steps < max_steps:
            if stop_request.asked:
                stop_here()
            elapsed = time.perf_counter() - start - paused
            stop = torch.tensor(float(elapsed >= max_seconds))
            if world > 1:  # rank 0's clock decides, so no rank waits on a collective forever
                torch.distributed.broadcast(stop, src=0)
            if stop.item():
                result.stopped_by = "minutes"
                break
            frac = max(result.steps / max_steps if step_limit else 0.0, elapsed / max_seconds)
            while curve_at and frac >= curve_at[0] and curve_at[0] < 1.0:
                curve_at.pop(0)
                if result.steps > 0 and (not result.curve or result.curve[-1]["step"] != result.steps):
                    score_curve(elapsed)
            pace.update(elapsed, result.steps)
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
                       and result.checkpoint.is_file() else "(no checkpoint written yet)"))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
            optimizer.step()
            result.steps += 1
            result.losses.append(global_loss.item())
            bar.update(task, advance=1, description=f"train {config.name} loss {result.losses[-1]:7.3f}")
            if on_step is not None:
                on_step(result.steps, step_limit, result.losses[-1])
            if periodic and result.checkpoint and result.steps % checkpoint_every == 0:
                try:
                    save_checkpoint(result.checkpoint, config, model, step=result.steps, **result.checkpoint_extra)
                except OSError:  # training goes on; the final save falls back to another path and says why
                    periodic = False
            if writes_state and time.perf_counter() - state_saved_at >= STATE_EVERY_SECONDS:
                save_state()
                state_saved_at = time.perf_counter()
        else:
            result.stopped_by = limit_kind or "steps"
        if stop_request.asked:  # during the last step: the budget is spent, the stop still asked
            stop_here()
    result.seconds = time.perf_counter() - start - paused
    pace.finish()
    if curve_set is not None and rank == 0 and (not result.curve or result.curve[-1]["step"] != result.steps):
        with on_interrupt:  # (a kept final state already holds the last point)
            score_curve(result.seconds)
    if result.checkpoint:
        result.checkpoint, note = save_or_fall_back(result.checkpoint, config, model, result.steps,
                                                    **result.checkpoint_extra)
        if note:
            result.checkpoint_note = f"{note}; the weights were saved to {result.checkpoint} instead"
    if writes_state and keep_state:
        save_state()
    elif writes_state:
        state_file.unlink(missing_ok=True)  # spent: a later call trains anew
    return model.eval(), result


def _state_key(config: ModelConfig, data: SeparationData, budget: Budget, seed: int, segment: int,
               world: int, init_sha256: str | None = None) -> str:
    """What a training state must have been written by: the same model, data, budget and seed
    (and starting weights, for a fine-tuning)."""
    ident = [config.name, config.architecture, config.params, dict(config.objective), data.name, repr(budget),
             int(seed), int(segment), int(world)]
    if init_sha256 is not None:  # (appended only then: states of trainings from scratch keep their key)
        ident.append(init_sha256)
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=repr).encode()).hexdigest()


def _resume(state: dict[str, Any], model: Separator, optimizer: torch.optim.Optimizer, result: TrainResult,
            device: torch.device) -> None:
    """Put a training back where its state left it (read on the CPU: the random state must stay there)."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    for name in ("steps", "seconds", "data_seconds", "cpu_seconds", "slow_seconds"):
        setattr(result, name, state[name])
    result.losses = [float(x) for x in state["losses"]]
    result.curve = [dict(point) for point in state["curve"]]
    result.resumed_from = result.steps
    torch.set_rng_state(state["rng"])
    if device.type == "cuda" and "cuda_rng" in state:
        torch.cuda.set_rng_state(state["cuda_rng"], device)


class _StopRequest:
    """Ctrl-C (SIGINT) as a request to stop after the step under way, so that the state saved is
    that of whole steps; a second Ctrl-C goes to the previous handler (stops at once). Installed
    only when ``enabled`` and in the main thread (signals reach no other)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.asked = False
        self.previous: Any = None

    def __enter__(self) -> "_StopRequest":
        if self.enabled:
            self.previous = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._ask)
        return self

    def _ask(self, signum: int, frame: Any) -> None:
        self.asked = True
        self._restore()

    def _restore(self) -> None:
        signal.signal(signal.SIGINT, self.previous if self.previous is not None else signal.default_int_handler)

    def __exit__(self, *exc: Any) -> None:
        if self.enabled:
            self._restore()


class _SaveOnInterrupt:
    """Context manager of the training loop: turns Ctrl-C (KeyboardInterrupt) into
    :class:`TrainingInterrupted`, after saving the last weights to the run's checkpoint path
    (if any, and at least one step was taken; with :func:`~separena.checkpoints.save_or_fall_back`'s fallback)."""

    def __init__(self, config: ModelConfig, model: Separator, result: TrainResult, total: int | None,
                 start: float, paused: Callable[[], float], saved_by_other_rank: bool) -> None:
        self.config, self.model, self.result, self.total = config, model, result, total
        self.start, self.paused, self.saved_by_other_rank = start, paused, saved_by_other_rank
        self.state: Path | None = None  # where the training state went, when it was saved

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if kind is None or not issubclass(kind, KeyboardInterrupt):
            return
        result = self.result
        result.seconds = time.perf_counter() - self.start - self.paused()
        where = f"model {self.config.name!r}: training interrupted at step {result.steps}"
        where += f" of {self.total}" if self.total else ""
        saved: Path | None = None
        if result.steps == 0:
            what = "no weights saved (nothing trained yet)"
        elif result.checkpoint is not None:
            saved, note = save_or_fall_back(result.checkpoint, self.config, self.model, result.steps,
                                            **result.checkpoint_extra)
            what = f"last weights saved to {saved}" + (f" ({note})" if note else "")
        elif self.saved_by_other_rank:
            what = "rank 0 saves the last weights"
        else:
            what = "weights not saved (no checkpoint path given)"
        if self.state is not None:
            what += f"; training state saved to {self.state}: the same call resumes from there"
        raise TrainingInterrupted(f"{where}; {what}", checkpoint=saved, steps=result.steps) from None


