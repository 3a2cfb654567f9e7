"""Fixture plugin for executor and fault tests: tiny models for suites on ``tones-2mix``.

Loaded by file path (``--plugin tests/plugins/bench_tiny.py`` or ``Registry(plugins=[path])``),
so Ray workers rebuild the same registry; it does nothing at import.

- ``tiny-net``: a learned filterbank with one conv layer of masks (trains in milliseconds).
  ``sleep_ms`` slows every forward; ``pid_dir`` makes each build write a file named after the
  process id, so a test can find (and kill) the worker process running a run, and its fifth
  training-mode forward (past the cost probe, into the training steps) write one into
  ``<pid_dir>-training``, so a test can interrupt a training under way.
- ``exploding``: raises inside ``forward``.
- ``nan-net``: its loss becomes NaN on the third training step.
- ``tiny-oracle`` and ``mixture``: the brackets of every suite.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from separena import ArchitectureSpec, Separator, SeparatorOutput, hookimpl
from torch import Tensor, nn


class TinyNet(Separator):
    def __init__(self, n_src: int = 2, sample_rate: int = 8000, channels: int = 8, sleep_ms: int = 0,
                 explode: bool = False, nan_after: int = 0) -> None:
        super().__init__(n_src=n_src, sample_rate=sample_rate)
        self.encoder = nn.Conv1d(1, channels, 16, stride=8, bias=False)
        self.masker = nn.Conv1d(channels, channels * n_src, 3, padding=1)
        self.decoder = nn.ConvTranspose1d(channels, 1, 16, stride=8, bias=False)
        self.sleep_ms, self.explode, self.nan_after = sleep_ms, explode, nan_after
        self.calls = 0
        self.training_marker: Path | None = None

    def forward(self, mix: Tensor) -> SeparatorOutput:
        if self.explode:
            raise RuntimeError("boom in forward")
        if self.sleep_ms:
            time.sleep(self.sleep_ms / 1000)
        self.calls += self.training  # training forwards only: evaluations in between do not count
        if self.training_marker is not None and self.calls == 5:
            self.training_marker.parent.mkdir(parents=True, exist_ok=True)
            self.training_marker.touch()
        batch, length = mix.shape
        rep = torch.relu(self.encoder(mix.unsqueeze(1)))
        masks = torch.sigmoid(self.masker(rep)).view(batch, self.n_src, rep.shape[1], -1)
        wav = self.decoder((masks * rep.unsqueeze(1)).flatten(0, 1))
        wav = nn.functional.pad(wav, (0, max(0, length - wav.shape[-1])))[..., :length]
        if self.nan_after and self.training and self.calls > self.nan_after:
            wav = wav * float("nan")
        return SeparatorOutput(estimates=wav.view(batch, self.n_src, length))


def tiny_net(n_src: int = 2, sample_rate: int = 8000, channels: int = 8, sleep_ms: int = 0,
             pid_dir: str = "") -> TinyNet:
    """Tiny trainable model.

    Args:
        n_src: sources.
        sample_rate: Hz.
        channels: filterbank size.
        sleep_ms: sleep per forward (makes runs slow enough to kill mid-run).
        pid_dir: when set, each build writes an empty file ``<pid>-<ns>`` there, and the same
            name into ``<pid_dir>-training`` at its fifth training-mode forward.
    """
    net = TinyNet(n_src, sample_rate, channels, sleep_ms)
    if pid_dir:
        name = f"{os.getpid()}-{time.time_ns()}"
        Path(pid_dir).mkdir(parents=True, exist_ok=True)
        (Path(pid_dir) / name).touch()
        net.training_marker = Path(f"{pid_dir}-training") / name
    return net


def exploding(n_src: int = 2, sample_rate: int = 8000) -> TinyNet:
    """A model whose forward always raises."""
    return TinyNet(n_src, sample_rate, explode=True)


def nan_net(n_src: int = 2, sample_rate: int = 8000) -> TinyNet:
    """A model whose training loss becomes NaN at step 2."""
    return TinyNet(n_src, sample_rate, nan_after=2)


class PerfectOracle(Separator):
    needs_references = True

    def forward(self, mix: Tensor, references: Tensor) -> SeparatorOutput:
        return SeparatorOutput(estimates=references + 1e-3 * mix.unsqueeze(1))


class Mixture(Separator):
    def forward(self, mix: Tensor) -> SeparatorOutput:
        return SeparatorOutput(estimates=mix.unsqueeze(1).repeat(1, self.n_src, 1) / self.n_src)


def tiny_oracle(n_src: int = 2, sample_rate: int = 8000) -> PerfectOracle:
    """Near-perfect oracle."""
    return PerfectOracle(n_src, sample_rate)


def mixture(n_src: int = 2, sample_rate: int = 8000) -> Mixture:
    """The unprocessed mixture."""
    return Mixture(n_src, sample_rate)


@hookimpl
def separena_register_architectures() -> list[ArchitectureSpec]:
    return [
        ArchitectureSpec("tiny-net", tiny_net, "waveform", "tiny conv mask net", reference="test"),
        ArchitectureSpec("exploding", exploding, "waveform", "raises in forward", reference="test"),
        ArchitectureSpec("nan-net", nan_net, "waveform", "loss becomes NaN", reference="test"),
        ArchitectureSpec("tiny-oracle", tiny_oracle, "oracle", "references", trainable=False),
        ArchitectureSpec("mixture", mixture, "baseline", "the mixture", trainable=False),
    ]


SUITE_YAML = """
presets:
  tiny-net-wide:
    architecture: tiny-net
    params: {{channels: 12}}
  tiny-net-slow:
    architecture: tiny-net
    params: {{sleep_ms: {sleep_ms}, pid_dir: "{pid_dir}"}}
suites:
  tiny-tones:
    dataset: tones-2mix
    dataset_params: {{n_valid: 2, n_test: 4, test_seconds: 0.5}}
    sample_rate: 8000
    segment_seconds: 0.25
    budget: {{steps: 6, batch_size: 2, learning_rate: 0.01}}
    seeds: [0, 1]
    models: [tiny-net, tiny-net-wide]
  tiny-slow:
    dataset: tones-2mix
    dataset_params: {{n_valid: 2, n_test: 4, test_seconds: 0.5}}
    sample_rate: 8000
    segment_seconds: 0.25
    budget: {{steps: {slow_steps}, batch_size: 2}}
    seeds: [0, 1, 2, 3]
    models: [tiny-net-slow]
  faults:
    dataset: tones-2mix
    dataset_params: {{n_valid: 2, n_test: 4, test_seconds: 0.5}}
    sample_rate: 8000
    segment_seconds: 0.25
    budget: {{steps: 6, batch_size: 2, learning_rate: 0.01}}
    seeds: [0]
    models: [tiny-net, exploding, nan-net]
"""


def wait_until_training(proc, store: Path, pid_dir: str, stored: int = 6, seconds: float = 120) -> None:
    """Wait until ``store`` holds ``stored`` runs (a suite's brackets) and a ``tiny-net`` built
    with ``pid_dir`` is into its training steps, or ``proc`` ended, or ``seconds`` passed."""
    import sqlite3

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            count = sqlite3.connect(store).execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        except sqlite3.Error:
            count = 0
        if count == stored and Path(f"{pid_dir}-training").is_dir():
            return
        time.sleep(0.05)


def write_registry(folder: Path, *, sleep_ms: int = 0, pid_dir: str = "", slow_steps: int = 6) -> Path:
    """Write the suites' registry YAML into ``folder`` and return its path."""
    path = folder / "bench-tiny.yaml"
    path.write_text(SUITE_YAML.format(sleep_ms=sleep_ms, pid_dir=pid_dir, slow_steps=slow_steps))
    return path
