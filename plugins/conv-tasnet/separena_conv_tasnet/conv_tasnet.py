"""Conv-TasNet: a learned filterbank, a temporal convolutional network that estimates one mask
per source on the encoder output, and a transposed-convolution decoder.

References:
    Luo & Mesgarani, "Conv-TasNet: Surpassing ideal time-frequency magnitude masking for
    speech separation", IEEE/ACM TASLP 27(8), 2019. https://arxiv.org/abs/1809.07454

Written for separena from the paper, composing core blocks; the layer layout (gLN +
bottleneck in front of the TCN, PReLU + 1x1 mask convolution after the skip sum, sigmoid
masks, linear encoder) follows the authors' released code and asteroid's ``ConvTasNet``
(MIT), so that parameter counts compare. One deliberate difference: the last block has no
residual 1x1 convolution, whose output nothing uses (asteroid keeps it without a gradient).
"""

from __future__ import annotations

from typing import Any, Literal

from torch import Tensor, nn

from separena import MaskSeparator
from separena.blocks import LearnedDecoder, LearnedEncoder, MaskActivation, MaskHead, TemporalConvNet

__all__ = ["ConvTasNetMasker", "conv_tasnet"]


class ConvTasNetMasker(nn.Module):
    """TCN -> PReLU -> mask head (a 1x1 convolution to ``n_src`` masks of ``n_filters``).

    Args:
        n_filters: encoder filters N (features per frame).
        n_src: number of sources.
        tcn: the temporal convolutional network, ``[B, N, T] -> [B, tcn.output_size, T]``.
        mask_activation: ``"sigmoid"``, ``"softmax"`` (over sources) or ``"relu"``.

    Shapes:
        ``[batch, frames, n_filters]`` -> masks ``[batch, n_src, frames, n_filters]``.
    """

    def __init__(self, n_filters: int, n_src: int, tcn: TemporalConvNet,
                 mask_activation: MaskActivation) -> None:
        super().__init__()
        self.tcn = tcn
        self.act = nn.PReLU()
        self.head = MaskHead(tcn.output_size, n_filters, n_src, mask_activation)

    def forward(self, rep: Tensor) -> Tensor:
        features = self.act(self.tcn(rep.transpose(1, 2)))  # [B, T, N] -> [B, N, T] -> [B, Sc, T]
        return self.head(features.transpose(1, 2))  # [B, T, Sc] -> [B, S, T, N]

    def step(self, rep: Tensor, state: Any) -> tuple[Tensor, Any]:
        """A stream's next frames -> their masks, the TCN's past carried; causal networks only."""
        features, state = self.tcn.step(rep.transpose(1, 2), state)
        return self.head(self.act(features).transpose(1, 2)), state


def conv_tasnet(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_filters: int = 512,
    filter_length: int = 16,
    bottleneck_size: int = 128,
    hidden_size: int = 512,
    skip_size: int = 128,
    kernel_size: int = 3,
    num_blocks: int = 8,
    num_repeats: int = 3,
    causal: bool = False,
    mask_activation: MaskActivation = "sigmoid",
    encoder_activation: Literal["linear", "relu"] = "linear",
) -> MaskSeparator:
    """Build a Conv-TasNet separator; the defaults are the paper's best non-causal configuration.

    Args:
        n_src: number of sources.
        sample_rate: sample rate in Hz the model is trained at (filters are in samples).
        n_filters: encoder/decoder filters N.
        filter_length: filter length L in samples; the hop is ``L // 2``.
        bottleneck_size: TCN residual-path channels B.
        hidden_size: TCN depthwise-convolution channels H.
        skip_size: TCN skip-connection channels Sc; 0 takes the masks from the residual path.
        kernel_size: depthwise kernel size P.
        num_blocks: convolutional blocks per repeat X (dilations 1 .. 2**(X-1)).
        num_repeats: repeats R.
        causal: causal convolutions and cumulative layer norm (the paper's causal system).
        mask_activation: ``"sigmoid"`` (paper), ``"softmax"`` (over sources) or ``"relu"``.
        encoder_activation: ``"linear"`` (the authors' code) or ``"relu"`` (non-negative, TasNet).
    """
    tcn = TemporalConvNet(n_filters, bottleneck_size, hidden_size, skip_size, kernel_size, num_blocks,
                          num_repeats, causal=causal)
    masker = ConvTasNetMasker(n_filters, n_src, tcn, mask_activation)
    return MaskSeparator(LearnedEncoder(n_filters, filter_length, activation=encoder_activation), masker,
                         LearnedDecoder(n_filters, filter_length), n_src=n_src, sample_rate=sample_rate)
