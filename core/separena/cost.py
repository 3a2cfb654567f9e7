"""What a model costs: parameters, multiply-accumulates, training memory, throughput.

Quality alone does not rank architectures fairly; every leaderboard row also says what the
quality cost, and compute budgets (``Budget.macs``) are counted here. MACs come from
:class:`torch.utils.flop_counter.FlopCounterMode` (MACs = FLOPs / 2). It counts matrix products
and convolutions (recurrent layers are counted through their matrix products, with oneDNN's
opaque fused kernels switched off while counting) but not FFTs or element-wise ops, which are
small next to them for these models.

Lookahead (:func:`lookahead_seconds`) is measured, not declared: how far into the future of an
output sample the input it depends on reaches, from exact gradients and from a perturbation of
the future, so that a plugin's normalization or clustering over the whole input cannot hide.

Training memory is measured from the autograd graph rather than from the process: the bytes of
the tensors one training step saves for its backward pass, plus weights, gradients and Adam's two
moments. It depends only on the model and the batch, so it means the same on every row of a
leaderboard, on every machine and in every process (RSS growth of a long-lived process does not).
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .model import Separator, separate

__all__ = [
    "count_parameters", "count_macs", "macs_per_second", "TrainingCost", "training_cost", "CudaPeakMemory",
    "Throughput", "train_throughput", "real_time_factor", "lookahead_seconds", "stored_lookahead", "BACKWARD_FACTOR",
    "LOOKAHEAD_PROBE_SECONDS",
]

BACKWARD_FACTOR = 3.0  # a training step costs about 3x the forward pass (forward + 2x for backward)
LOOKAHEAD_PROBE_SECONDS = 2.0  # input probed by lookahead_seconds; a reach to its end is "offline"


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def _probe(model: Separator, n_src: int, batch: int, samples: int) -> tuple[Tensor, Tensor]:
    """A fixed random batch ``(mix [batch, time], sources [batch, n_src, time])``."""
    gen = torch.Generator().manual_seed(0)
    sources = 0.1 * torch.randn(batch, n_src, samples, generator=gen)
    return sources.sum(1), sources


@contextmanager
def _isolated(model: Separator, training: bool) -> Iterator[Separator]:
    """A copy of ``model`` in train or eval mode, under a forked RNG: measuring never changes the
    model (BatchNorm statistics) or the random stream its training will draw from (dropout)."""
    with torch.random.fork_rng(devices=[]):
        twin = copy.deepcopy(model)
        twin.train(training)
        yield twin


def count_macs(model: Separator, mix: Tensor, references: Tensor | None = None) -> float:
    """Multiply-accumulates of one forward pass of ``model`` on ``mix`` (in its current mode)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    # oneDNN's fused RNN kernels are opaque to the counter: disable them so that LSTM/GRU
    # layers decompose into the matrix products it counts. So is nn.TransformerEncoderLayer's
    # inference fast path (one fused op per layer): off while counting.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the flags' TF32 notice
            with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False), counter:
                separate(model, mix, references)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return counter.get_total_flops() / 2.0


def macs_per_second(model: Separator, n_src: int, device: str | torch.device = "cpu") -> float:
    """Inference multiply-accumulates for one second of single-mixture audio (batch 1, eval mode)."""
    mix, sources = _probe(model, n_src, 1, int(model.sample_rate))
    with _isolated(model, training=False) as twin:
        return count_macs(twin, mix.to(device), sources.to(device))


@dataclass(frozen=True)
class TrainingCost:
    """What one training step of a model costs, measured once before training."""

    forward_macs_per_example: float  # MACs of the training-mode forward pass per mixture
    activation_mb: float  # tensors saved for the backward pass, for one step of the whole batch
    state_mb: float  # weights + gradients + Adam's two moments

    @property
    def macs_per_example(self) -> float:
        """Training MACs per mixture seen: forward times :data:`BACKWARD_FACTOR`."""
        return self.forward_macs_per_example * BACKWARD_FACTOR

    @property
    def memory_mb(self) -> float:
        """Training memory of one step: saved activations plus optimizer state."""
        return self.activation_mb + self.state_mb


def _saved_bytes(model: Separator, mix: Tensor, sources: Tensor) -> int:
    """Bytes of the distinct tensors autograd saves in one training forward pass.

    The pack hook keeps a detached view, not the tensor it is given: a saved graph output
    returned as-is would hold its own ``grad_fn``, a cycle through C++ that the garbage
    collector cannot break when no backward pass runs, so every measurement leaked a whole
    step's activations (6.9 GB for ``tf-gridnet-small``) for the life of the process.
    """
    seen: dict[tuple[int, int], int] = {}

    def pack(t: Tensor) -> Tensor:
        if t.layout == torch.strided and t.device.type != "meta":
            storage = t.untyped_storage()
            seen[(storage.data_ptr(), t.device.index or 0)] = storage.nbytes()
        return t.detach()

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = separate(model, mix, sources)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    del out
    return sum(n for (ptr, _), n in seen.items() if ptr not in params)


def training_cost(model: Separator, n_src: int, batch_size: int, segment_samples: int,
                  device: str | torch.device = "cpu") -> TrainingCost:
    """Measure forward MACs per example and the memory of a training step at this batch and crop.

    Runs on a copy of the model under a forked RNG, so training afterwards is unchanged.
    MACs are counted on one example (they are linear in the batch); memory on the whole batch.
    """
    one_mix, one_src = _probe(model, n_src, 1, segment_samples)
    mix, sources = _probe(model, n_src, batch_size, segment_samples)
    with _isolated(model, training=True) as twin:
        macs = count_macs(twin, one_mix.to(device), one_src.to(device))
        activations = _saved_bytes(twin, mix.to(device), sources.to(device))
    state = 4 * sum(p.numel() * p.element_size() for p in model.parameters())  # weights, grads, Adam m and v
    return TrainingCost(forward_macs_per_example=macs, activation_mb=activations / 2**20, state_mb=state / 2**20)


class CudaPeakMemory:
    """Peak CUDA allocation of a block (``None`` off CUDA): ``with CudaPeakMemory(dev) as m: ...; m.mb``."""

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.mb: float | None = None

    def __enter__(self) -> CudaPeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            self.mb = torch.cuda.max_memory_allocated(self.device) / 2**20


@dataclass(frozen=True)
class Throughput:
    """Training speed of a run."""

    steps_per_second: float
    audio_seconds_per_second: float  # training audio consumed per wall-clock second


def train_throughput(steps: int, seconds: float, batch_size: int, segment_seconds: float) -> Throughput:
    """Steps/s and audio-seconds/s of a finished training run (zeros if it did not train)."""
    if steps <= 0 or seconds <= 0:
        return Throughput(0.0, 0.0)
    return Throughput(steps / seconds, steps * batch_size * segment_seconds / seconds)


@torch.no_grad()
def real_time_factor(model: Separator, mixes: list[Tensor], references: list[Tensor],
                     device: str | torch.device = "cpu") -> float:
    """Inference seconds per second of audio at batch 1, after one warm-up pass.

    Shapes:
        mixes: each ``[time]``; references: each ``[n_src, time]``.
    """
    if not mixes:
        return float("nan")
    model.eval()
    separate(model, mixes[0].unsqueeze(0).to(device), references[0].unsqueeze(0).to(device))
    seconds = audio = 0.0
    for mix, refs in zip(mixes, references):
        mix, refs = mix.unsqueeze(0).to(device), refs.unsqueeze(0).to(device)
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        separate(model, mix, refs)
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)
        seconds += time.perf_counter() - t0
        audio += mix.shape[-1] / model.sample_rate
    return seconds / audio


def lookahead_seconds(model: Separator, n_src: int, probes: int = 8,
                      seconds: float = LOOKAHEAD_PROBE_SECONDS) -> float:
    """How far ahead of an output sample the input it depends on reaches, in seconds:
    ``math.inf`` for a model whose outputs depend on the whole input (offline).

    A causal model that frames its input (an STFT, a learned encoder) still waits for its
    window: this is the algorithmic latency a streaming version of it would have at least. It
    is measured on a float64 copy on the CPU (the model is not changed) with ``probes`` output
    samples at random places just after the middle of ``seconds`` of noise, two ways, taking the
    larger: the last input sample with a nonzero gradient (exact zeros: an input a sample does
    not depend on contributes nothing), and the first output sample that changes when the
    input from the probe on is replaced (dependence without a gradient: k-means, argmax
    masks). A reach to the end of the probe (or back to its start) counts as offline; a
    normalization over time makes a model offline however causal its layers are. The largest
    over ``probes`` places is within about a frame hop of the worst case.
    """
    sr = model.sample_rate
    n = round(seconds * sr)
    gen = torch.Generator().manual_seed(0)
    mix = 0.1 * torch.randn(probes, n, generator=gen, dtype=torch.float64)
    references = 0.1 * torch.randn(probes, n_src, n, generator=gen, dtype=torch.float64)
    future = 0.1 * torch.randn(probes, n, generator=gen, dtype=torch.float64)
    at = n // 2 + torch.randint(0, max(sr // 8, 1), (probes,), generator=gen)  # [probes]
    altered = torch.where(torch.arange(n) < at.unsqueeze(1), mix, future)  # the future from `at` on replaced
    twin = copy.deepcopy(model).cpu().eval()
    noise = 0.0  # float64 arithmetic repeats itself exactly on an unchanged past
    try:
        twin = twin.double()
        estimates = separate(twin, mix.requires_grad_(True), references).estimates
    except (RuntimeError, TypeError):  # a plugin that computes in float32 whatever its input
        twin, mix = twin.float(), mix.detach().float().requires_grad_(True)
        references, altered = references.float(), altered.float()
        estimates = separate(twin, mix, references).estimates
        noise = 1e-6  # float32 kernels may round an unchanged past differently (seen: 1e-8 of 0.3)
    gradient = None
    if estimates.requires_grad:  # (a model may run without a graph: the perturbation still speaks)
        picked = estimates.gather(-1, at.view(-1, 1, 1).expand(-1, estimates.shape[1], 1))
        (gradient,) = torch.autograd.grad(picked.sum(), mix, allow_unused=True)
    with torch.no_grad():
        difference = (separate(twin, altered, references).estimates - estimates).abs()
        changed = (difference > noise * estimates.abs().amax()).any(1)  # [probes, time]
    if gradient is None:
        gradient = torch.zeros_like(mix)
    ahead = 0
    for g, moved, probe in zip(gradient, changed, at.tolist()):
        last = int(torch.nonzero(g).max()) if g.any() else -1
        first = int(torch.nonzero(moved).min()) if moved.any() else n
        if last >= n - 1 or first == 0:
            return math.inf
        ahead = max(ahead, last - probe, probe - first)
    return ahead / sr


def stored_lookahead(seconds: float) -> float | None:
    """A lookahead as a run stores it in JSON: ``None`` for offline (JSON has no infinity)."""
    return None if math.isinf(seconds) else seconds
