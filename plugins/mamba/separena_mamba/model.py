"""Mask inference with Mamba layers: log-magnitude -> normalization -> a stack of selective
state-space layers -> mask head. It is separena-mask-inference's recipe with the BLSTM stack
replaced, so that the two sequence models compare on the same features, head, data and budget.

References:
    Gu & Dao, "Mamba: linear-time sequence modeling with selective state spaces",
    arXiv:2312.00752, 2023.
    Jiang, Han & Mesgarani, "Dual-path Mamba: short and long-term bidirectional selective
    structured state space models for speech separation", arXiv:2403.18257, 2024: separation
    with bidirectional Mamba layers, a forward and a time-reversed scan that share the input
    and output projections (Vision Mamba's "v2" layer, Zhu et al., arXiv:2401.09417).

The layers are mambapy's (pure PyTorch) with :func:`~separena_mamba.scan.selective_scan` in
``forward`` (in place of mambapy's parallel scan, which needs whole-input tensors), the
recurrent form frame by frame in ``step``, so the one-way configuration streams.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from separena import MaskSeparator, SeparenaError
from separena.blocks import ISTFT, STFT, LogMagnitudeFeatures, MaskActivation, MaskHead, NormKind

from .scan import selective_scan

__all__ = ["MambaStack", "MambaMasker", "mamba_mask_inference"]

MambaState = list[tuple[Tensor | None, Tensor]]
"""What a one-way :class:`MambaStack` carries along a stream: per layer, the scan's state
``[batch, expand * d_model, d_state]`` (``None`` before the first frame) and the last
``d_conv - 1`` inputs of its short convolution ``[batch, expand * d_model, d_conv - 1]``."""


class MambaStack(nn.Module):
    """Linear projection -> ``num_layers`` residual Mamba layers (RMSNorm before each) -> LayerNorm.

    Args:
        input_size: features per frame.
        d_model: the layers' width.
        num_layers: Mamba layers.
        d_state: state size of each channel's selective scan.
        expand: the layers' inner width is ``expand * d_model``.
        bidirectional: each layer also scans the input backwards (separate scan parameters,
            shared projections, the two outputs averaged); one-way layers are causal and stream.

    Shapes:
        ``[batch, time, input_size]`` -> ``[batch, time, d_model]``.
    """

    def __init__(self, input_size: int, d_model: int, num_layers: int, d_state: int = 16, expand: int = 2,
                 bidirectional: bool = True) -> None:
        from mambapy.vim import MambaConfig, VMamba  # here, so that listing models never imports it

        super().__init__()
        for name, value in (("d_model", d_model), ("num_layers", num_layers), ("d_state", d_state),
                            ("expand", expand)):
            if value < 1:
                raise SeparenaError(f"MambaStack: {name}; expected a positive integer, got {value!r}")
        self.config = MambaConfig(d_model=d_model, n_layers=num_layers, d_state=d_state, expand_factor=expand,
                                  bidirectional=bidirectional)
        self.proj = nn.Linear(input_size, d_model)
        self.blocks = VMamba(self.config)
        for layer in self.blocks.layers:  # mambapy's parallel scan needs whole-input tensors (see scan.py)
            layer.mixer.selective_scan = selective_scan
        self.norm = nn.LayerNorm(d_model)
        self.output_size = d_model

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.blocks(self.proj(x)))

    def step(self, x: Tensor, state: MambaState | None) -> tuple[Tensor, MambaState]:
        """A stream's next frames ``[batch, k, input_size]`` -> ``[batch, k, d_model]``, each
        layer's scan state and convolution inputs carried (see :mod:`separena.blocks.streams`);
        one-way layers only."""
        if self.config.bidirectional:
            raise SeparenaError("MambaStack: bidirectional layers also scan the input backwards, from its end, so "
                                "they cannot stream; expected bidirectional=False")
        x = self.proj(x)
        if state is None:
            start = x.new_zeros(x.shape[0], self.config.d_inner, self.config.d_conv - 1)
            state = [(None, start) for _ in range(self.config.n_layers)]
        state = list(state)  # mambapy's step replaces the entries of the list it is given
        frames = []
        for t in range(x.shape[1]):
            y, state = self.blocks.step(x[:, t], state)
            frames.append(y)
        return self.norm(torch.stack(frames, 1) if frames else x), state


class MambaMasker(nn.Module):
    """Log-magnitude features -> :class:`MambaStack` -> a mask per source.

    Shapes:
        complex STFT ``[batch, frames, freq]`` -> masks ``[batch, n_src, frames, freq]``.
    """

    def __init__(self, n_freq: int, n_src: int, d_model: int, num_layers: int, d_state: int, expand: int,
                 bidirectional: bool, norm: NormKind, mask_activation: MaskActivation) -> None:
        super().__init__()
        self.features = LogMagnitudeFeatures(n_freq, norm)
        self.mamba = MambaStack(n_freq, d_model, num_layers, d_state, expand, bidirectional)
        self.head = MaskHead(d_model, n_freq, n_src, mask_activation)

    def forward(self, spec: Tensor) -> Tensor:
        return self.head(self.mamba(self.features(spec)))  # [B, T, F] -> [B, T, D] -> [B, S, T, F]

    def step(self, spec: Tensor, state: Any) -> tuple[Tensor, Any]:
        """A stream's next frames -> their masks; one-way layers and a norm without whole-input statistics."""
        features, _ = self.features.step(spec, None)
        hidden, state = self.mamba.step(features, state)
        return self.head(hidden), state


def mamba_mask_inference(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_fft: int = 256,
    hop_length: int = 128,
    d_model: int = 64,
    num_layers: int = 2,
    d_state: int = 16,
    expand: int = 2,
    bidirectional: bool = True,
    norm: NormKind = "instance",
    mask_activation: MaskActivation = "sigmoid",
) -> MaskSeparator:
    """Build a mask-inference separator whose sequence model is a Mamba stack.

    Args:
        n_src: number of sources.
        sample_rate: sample rate in Hz the model is trained at.
        n_fft: STFT size (samples).
        hop_length: STFT hop (samples); 128 as mask-inference's default.
        d_model: width of the Mamba layers. 64 by default: on one CPU thread the scan's
            element-wise work over ``[batch, time, expand * d_model, d_state]`` makes a training
            step of two bidirectional layers of 128 take 5 times as long as mask-inference's
            BLSTM 2x128 (64: 2.7 times; ``benchmarks/mamba_vs_blstm.py``).
        num_layers: Mamba layers.
        d_state: state size of each channel's selective scan (Mamba's N).
        expand: inner width ``expand * d_model`` of each layer (Mamba's E).
        bidirectional: forward and time-reversed scans in every layer (True) or one-way layers
            (False); the model is causal only with a ``norm`` other than ``"instance"``.
        norm: feature normalization: batch norm over frequency, per-item instance norm,
            learned shift-and-scale, or none.
        mask_activation: ``"sigmoid"``, ``"softmax"`` (over sources) or ``"relu"``.
    """
    masker = MambaMasker(n_fft // 2 + 1, n_src, d_model, num_layers, d_state, expand, bidirectional, norm,
                         mask_activation)
    return MaskSeparator(STFT(n_fft, hop_length), masker, ISTFT(n_fft, hop_length), n_src=n_src,
                         sample_rate=sample_rate)
