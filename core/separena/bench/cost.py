"""Cost metrics of a model: parameters, MACs per second of audio, peak memory, throughput.

Quality alone does not rank architectures fairly; every leaderboard row also says what the
quality cost. MACs come from :class:`torch.utils.flop_counter.FlopCounterMode` on one second
of input (MACs = FLOPs / 2). It counts matrix products and convolutions (recurrent layers are
counted through their matrix products, with oneDNN's opaque fused kernels switched off while
counting) but not FFTs or element-wise ops, which are small next to them for these models.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..model import Separator, separate

__all__ = ["count_parameters", "macs_per_second", "PeakMemory", "train_throughput"]


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def macs_per_second(model: Separator, n_src: int, device: str | torch.device = "cpu") -> float:
    """Multiply-accumulates for one second of single-mixture audio (batch 1, eval mode)."""
    from torch.utils.flop_counter import FlopCounterMode

    length = int(model.sample_rate)
    gen = torch.Generator().manual_seed(0)
    sources = (0.1 * torch.randn(1, n_src, length, generator=gen)).to(device)
    mix = sources.sum(1)
    was_training = model.training
    model.eval()
    try:
        counter = FlopCounterMode(display=False)
        # oneDNN's fused RNN kernels are opaque to the counter: disable them so that LSTM/GRU
        # layers decompose into the matrix products it counts.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the flags' TF32 notice
            with torch.backends.mkldnn.flags(enabled=False), counter:
                separate(model, mix, sources)
    finally:
        model.train(was_training)
    return counter.get_total_flops() / 2.0


def _rss_bytes() -> int:
    """Current resident set size of this process (Linux /proc; else the peak from getrusage)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


class PeakMemory:
    """Peak memory of a block: RSS growth over its start (sampled) and CUDA peak allocation.

    ``getrusage``'s ``ru_maxrss`` is a lifetime peak, useless for the second run of a process,
    so a daemon thread samples RSS every ``interval`` seconds instead (cost: one small file
    read per sample).

    Example::

        with PeakMemory() as mem:
            train(...)
        mem.rss_delta_mb, mem.cuda_peak_mb
    """

    def __init__(self, device: str | torch.device = "cpu", interval: float = 0.05) -> None:
        self.device = torch.device(device)
        self.interval = interval
        self.start = self.peak = 0
        self.cuda_peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, _rss_bytes())

    def __enter__(self) -> PeakMemory:
        self.start = self.peak = _rss_bytes()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        self._thread = threading.Thread(target=self._sample, name="separena-peak-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, _rss_bytes())
        if self.device.type == "cuda":
            self.cuda_peak = torch.cuda.max_memory_allocated(self.device)

    @property
    def rss_delta_mb(self) -> float:
        return (self.peak - self.start) / 2**20

    @property
    def cuda_peak_mb(self) -> float | None:
        return self.cuda_peak / 2**20 if self.device.type == "cuda" else None


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


def as_dict(obj: Any) -> dict[str, Any]:
    """Dataclass fields as a dict (for the run payload)."""
    return dict(obj.__dict__)
