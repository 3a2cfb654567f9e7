"""Open-Unmix-like separator: a BLSTM per source on bandwidth-limited STFT magnitudes.

References:
    Stöter, Uhlich, Liutkus and Mitsufuji, "Open-Unmix - A Reference Implementation for Music
    Source Separation", Journal of Open Source Software 4(41), 1667, 2019
    (https://doi.org/10.21105/joss.01667; code: github.com/sigsep/open-unmix-pytorch, MIT).
    Nugraha, Liutkus and Vincent, "Multichannel audio source separation with deep neural
    networks", IEEE/ACM TASLP 2016 (the Wiener post-filter).

Written from the paper's description with separena's core blocks; no code was copied. Per
source: magnitude -> keep bins below ``bandwidth_hz`` -> learnable input shift/scale -> fc ->
batch norm -> tanh -> BLSTM (3 layers in the paper) -> concat with its input (skip) -> fc ->
batch norm -> ReLU -> fc back to every frequency bin -> batch norm -> learnable output
scale/shift -> ReLU mask on the mixture magnitude. The mixture phase rebuilds the waveform;
an optional multichannel Wiener filter (``norbert``) refines the estimates at inference.
Differences from the reference: mono input, no dataset-statistics initialisation of the
input shift/scale (identity), and the objective is a per-source waveform SI-SDR plus uSDR.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from separena import MaskSeparator
from separena.blocks import (
    ISTFT, STFT, BatchNormFreq, LimitBandwidth, Magnitude, MaskActivation, RecurrentStack, ShiftAndScale,
    WienerFilter, bandwidth_to_max_bin, mask_activation,
)

__all__ = ["OpenUnmixNetwork", "OpenUnmixMasker", "OpenUnmixSeparator", "open_unmix"]


class OpenUnmixNetwork(nn.Module):
    """One Open-Unmix network: magnitudes to ``n_out`` pre-activation masks over every bin.

    Args:
        n_freq: STFT bins; max_bin: bins the network sees; n_out: masks it predicts;
        hidden_size: recurrent units per direction (as everywhere in separena); the fully
        connected layers are as wide as the recurrent output, ``2 * hidden_size`` when
        bidirectional (``hidden_size`` otherwise);
        num_layers, bidirectional, dropout: the recurrent stack.

    Shapes:
        ``[batch, frames, n_freq]`` -> ``[batch, frames, n_out, n_freq]``.
    """

    def __init__(self, n_freq: int, max_bin: int, n_out: int, hidden_size: int, num_layers: int,
                 bidirectional: bool, dropout: float) -> None:
        super().__init__()
        self.n_freq, self.n_out = n_freq, n_out
        self.crop = LimitBandwidth(max_bin)
        self.input_norm = ShiftAndScale(max_bin)
        width = hidden_size * (2 if bidirectional else 1)  # the recurrent output's width
        self.fc1 = nn.Linear(max_bin, width, bias=False)
        self.bn1 = BatchNormFreq(width)
        self.rnn = RecurrentStack(width, hidden_size, num_layers, bidirectional, dropout if num_layers > 1 else 0.0)
        self.fc2 = nn.Linear(width + self.rnn.output_size, width, bias=False)
        self.bn2 = BatchNormFreq(width)
        self.fc3 = nn.Linear(width, n_out * n_freq, bias=False)
        self.bn3 = BatchNormFreq(n_out * n_freq)
        self.output_norm = ShiftAndScale(n_out * n_freq)

    def forward(self, magnitude: Tensor) -> Tensor:
        x = self._features(magnitude)
        return self._masks(x, self.rnn(x))

    def step(self, magnitude: Tensor, state: Any) -> tuple[Tensor, Any]:
        """A stream's next frames, the LSTM state carried (one-way networks only; batch norm
        in eval mode, as the streaming separator runs it, is frame by frame)."""
        x = self._features(magnitude)
        hidden, state = self.rnn.step(x, state)
        return self._masks(x, hidden), state

    def _features(self, magnitude: Tensor) -> Tensor:
        x = self.input_norm(self.crop(magnitude))  # [B, T, F] -> [B, T, max_bin]
        return torch.tanh(self.bn1(self.fc1(x)))  # [B, T, W], W = 2 * hidden_size if bidirectional

    def _masks(self, x: Tensor, hidden: Tensor) -> Tensor:
        x = torch.cat([x, hidden], dim=-1)  # skip connection: [B, T, W + W]
        x = torch.relu(self.bn2(self.fc2(x)))
        x = self.output_norm(self.bn3(self.fc3(x)))  # [B, T, n_out * F]
        return x.reshape(*x.shape[:2], self.n_out, self.n_freq)


class OpenUnmixMasker(nn.Module):
    """One network per source (``shared=False``), or one trunk with a per-source output layer.

    Shapes:
        complex STFT ``[batch, frames, freq]`` -> masks ``[batch, n_src, frames, freq]``.
    """

    def __init__(self, n_freq: int, max_bin: int, n_src: int, hidden_size: int, num_layers: int,
                 bidirectional: bool, dropout: float, shared: bool, mask_activation: MaskActivation) -> None:
        super().__init__()
        self.magnitude = Magnitude()
        self.activation = mask_activation
        n_nets, n_out = (1, n_src) if shared else (n_src, 1)
        self.networks = nn.ModuleList(
            OpenUnmixNetwork(n_freq, max_bin, n_out, hidden_size, num_layers, bidirectional, dropout)
            for _ in range(n_nets))

    def forward(self, spec: Tensor) -> Tensor:
        mag = self.magnitude(spec)
        return self._activated([net(mag) for net in self.networks])

    def step(self, spec: Tensor, state: list[Any] | None) -> tuple[Tensor, list[Any]]:
        """A stream's next frames -> their masks, each network's LSTM state carried; one-way only."""
        mag = self.magnitude(spec)
        states = [None] * len(self.networks) if state is None else state
        outputs = [net.step(mag, net_state) for net, net_state in zip(self.networks, states)]
        return self._activated([logits for logits, _ in outputs]), [net_state for _, net_state in outputs]

    def _activated(self, logits: list[Tensor]) -> Tensor:
        stacked = torch.cat(logits, dim=2).permute(0, 2, 1, 3)  # [B, T, S, F] -> [B, S, T, F]
        return mask_activation(stacked, self.activation, source_dim=1)


class OpenUnmixSeparator(MaskSeparator):
    """:class:`~separena.MaskSeparator` plus an optional Wiener post-filter in eval mode.

    In training mode (and with ``wiener_iterations=0``) the masks apply to the mixture STFT
    directly, so the objective's gradient reaches every weight; in eval mode with
    ``wiener_iterations > 0`` the masked magnitudes are refined by :class:`WienerFilter`
    (in :meth:`apply_masks`, the template's hook for a post-filter).

    Shapes:
        mix ``[batch, time]`` -> estimates ``[batch, n_src, time]``.
    """

    def __init__(self, encoder: nn.Module, masker: nn.Module, decoder: nn.Module, n_src: int, sample_rate: int,
                 wiener_iterations: int) -> None:
        super().__init__(encoder, masker, decoder, n_src=n_src, sample_rate=sample_rate)
        self.wiener = WienerFilter(wiener_iterations) if wiener_iterations > 0 else None

    def apply_masks(self, masks: Tensor, rep: Tensor) -> Tensor:
        if self.wiener is None or self.training:
            return super().apply_masks(masks, rep)
        return self.wiener(masks * rep.abs().unsqueeze(1), rep)  # [B, S, T, F] complex

    @property
    def post_filters(self) -> bool:
        return self.wiener is not None  # its EM estimates each source's covariance over the whole input


def open_unmix(
    n_src: int = 4,
    sample_rate: int = 16000,
    n_fft: int = 1024,
    hop_length: int = 256,
    bandwidth_hz: float = 6000.0,
    hidden_size: int = 256,
    num_layers: int = 3,
    bidirectional: bool = True,
    dropout: float = 0.4,
    shared: bool = False,
    mask_activation: MaskActivation = "relu",
    wiener_iterations: int = 0,
) -> OpenUnmixSeparator:
    """Build an Open-Unmix-like separator.

    Args:
        n_src: number of sources (music: vocals, bass, drums, other).
        sample_rate: sample rate in Hz the model is trained at.
        n_fft: STFT size (samples).
        hop_length: STFT hop (samples).
        bandwidth_hz: the networks see only bins up to this frequency (and still predict
            masks for every bin).
        hidden_size: recurrent units per direction, as in every separena builder (256: the
            paper's 512-wide BLSTM). The fully connected layers are as wide as the recurrent
            output: ``2 * hidden_size`` when bidirectional, ``hidden_size`` when not.
        num_layers: recurrent layers (3 in the paper).
        bidirectional: BLSTM (True, the offline model) or one-way LSTM (False: causal, each
            output waits one STFT window; streams without the Wiener filter).
        dropout: dropout between recurrent layers (0.4 in the paper; unused with 1 layer).
        shared: one trunk for all sources with a per-source output layer, instead of one
            network per source (the paper).
        mask_activation: ``"relu"`` (the paper: unbounded, non-negative), ``"sigmoid"`` or
            ``"softmax"`` (over sources).
        wiener_iterations: EM iterations of a multichannel Wiener post-filter (``norbert``)
            applied in eval mode; ``0`` turns it off.
    """
    n_freq = n_fft // 2 + 1
    max_bin = bandwidth_to_max_bin(sample_rate, n_fft, bandwidth_hz)
    masker = OpenUnmixMasker(n_freq, max_bin, n_src, hidden_size, num_layers, bidirectional, dropout, shared,
                             mask_activation)
    return OpenUnmixSeparator(STFT(n_fft, hop_length), masker, ISTFT(n_fft, hop_length), n_src=n_src,
                              sample_rate=sample_rate, wiener_iterations=wiener_iterations)
