"""DPRNN-TasNet: a learned filterbank whose frames are split into overlapping chunks and
processed by dual-path RNN blocks (an RNN within each chunk, then one across chunks).

References:
    Luo, Chen & Yoshioka, "Dual-path RNN: efficient long sequence modeling for time-domain
    single-channel speech separation", ICASSP 2020. https://arxiv.org/abs/1910.06379

Written for separena from the paper, composing core blocks. The output stage (PReLU and a
1x1 map to ``n_src`` feature maps per chunk, overlap-add, tanh x sigmoid gate, a bias-free
1x1 map to the encoder's filters, mask nonlinearity) follows the authors' released code and
asteroid's ``DPRNNTasNet`` (MIT), so that parameter counts compare.
"""

from __future__ import annotations

from torch import Tensor, nn

from separena import MaskSeparator, SeparenaError
from separena.blocks import (
    DualPathRNN, GlobalLayerNorm, LearnedDecoder, LearnedEncoder, MaskActivation, RnnType, chunk, mask_activation,
    overlap_add,
)

__all__ = ["DPRNNMasker", "dprnn_tasnet"]


class DPRNNMasker(nn.Module):
    """gLN -> bottleneck -> chunk -> dual-path RNN -> per-source maps -> overlap-add -> gate -> masks.

    Args:
        n_filters: encoder filters N.
        n_src: number of sources.
        bottleneck_size: features B inside the dual-path network.
        chunk_size: chunk length K in frames (hop ``K // 2``).
        dual_path: the dual-path RNN on ``[batch, chunks, K, B]``.
        mask_activation: ``"sigmoid"``, ``"softmax"`` (over sources) or ``"relu"``.

    Shapes:
        ``[batch, frames, n_filters]`` -> masks ``[batch, n_src, frames, n_filters]``.
    """

    def __init__(self, n_filters: int, n_src: int, bottleneck_size: int, chunk_size: int, dual_path: DualPathRNN,
                 mask_activation: MaskActivation) -> None:
        super().__init__()
        if mask_activation not in ("sigmoid", "softmax", "relu"):
            raise SeparenaError(f"dprnn-tasnet: mask_activation; expected sigmoid, softmax or relu, "
                                f"got {mask_activation!r}")
        if chunk_size < 2:
            raise SeparenaError(f"dprnn-tasnet: chunk_size; expected an integer >= 2, got {chunk_size!r}")
        self.n_src, self.chunk_size, self.hop, self.mask_activation = n_src, chunk_size, chunk_size // 2, mask_activation
        self.norm = GlobalLayerNorm(n_filters)
        self.bottleneck = nn.Conv1d(n_filters, bottleneck_size, 1)
        self.dual_path = dual_path
        self.to_sources = nn.Sequential(nn.PReLU(), nn.Linear(bottleneck_size, n_src * bottleneck_size))
        self.gate_tanh = nn.Sequential(nn.Linear(bottleneck_size, bottleneck_size), nn.Tanh())
        self.gate_sigmoid = nn.Sequential(nn.Linear(bottleneck_size, bottleneck_size), nn.Sigmoid())
        self.to_masks = nn.Linear(bottleneck_size, n_filters, bias=False)

    def forward(self, rep: Tensor) -> Tensor:
        batch, frames, _ = rep.shape
        x = self.bottleneck(self.norm(rep.transpose(1, 2))).transpose(1, 2)  # [B, T, N] -> [B, T, B_]
        x = self.dual_path(chunk(x, self.chunk_size, self.hop))  # [B, L, K, B_]
        x = overlap_add(self.to_sources(x), self.hop, frames)  # [B, L, K, S*B_] -> [B, T, S*B_]
        x = x.reshape(batch, frames, self.n_src, -1)  # [B, T, S, B_]
        scores = self.to_masks(self.gate_tanh(x) * self.gate_sigmoid(x)).transpose(1, 2)  # [B, S, T, N]
        return mask_activation(scores, self.mask_activation, source_dim=1)


def dprnn_tasnet(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_filters: int = 64,
    filter_length: int = 2,
    bottleneck_size: int = 64,
    hidden_size: int = 128,
    chunk_size: int = 250,
    num_repeats: int = 6,
    num_layers: int = 1,
    bidirectional: bool = True,
    rnn_type: RnnType = "lstm",
    dropout: float = 0.0,
    mask_activation: MaskActivation = "sigmoid",
) -> MaskSeparator:
    """Build a DPRNN-TasNet separator; the defaults are the paper's best configuration (L = 2, K = 250).

    Args:
        n_src: number of sources.
        sample_rate: sample rate in Hz the model is trained at (filters are in samples).
        n_filters: encoder/decoder filters N.
        filter_length: filter length L in samples; the hop is ``L // 2``.
        bottleneck_size: features inside the dual-path network (the paper uses N).
        hidden_size: RNN units per direction.
        chunk_size: chunk length K in frames; chunks overlap by 50 %.
        num_repeats: dual-path blocks.
        num_layers: layers of each intra- and inter-chunk RNN.
        bidirectional: bidirectional inter-chunk RNN (False gives the causal variant's inter path;
            the intra-chunk RNN is always bidirectional).
        rnn_type: ``"lstm"`` (paper) or ``"gru"``.
        dropout: dropout of the RNN outputs.
        mask_activation: ``"sigmoid"``, ``"softmax"`` (over sources) or ``"relu"``.
    """
    dual_path = DualPathRNN(bottleneck_size, hidden_size, num_repeats, bidirectional, num_layers, dropout, rnn_type)
    masker = DPRNNMasker(n_filters, n_src, bottleneck_size, chunk_size, dual_path, mask_activation)
    return MaskSeparator(LearnedEncoder(n_filters, filter_length), masker, LearnedDecoder(n_filters, filter_length),
                         n_src=n_src, sample_rate=sample_rate)
