"""Dual-path processing: split a long frame sequence into overlapping chunks, alternate an
intra-chunk and an inter-chunk sequence model, and overlap-add the chunks back.

DPRNN introduced the layout with RNNs; SepFormer keeps it with transformers and DPMamba with
Mamba layers, so the block takes any two sequence models and the masker any stack of blocks.

References:
    Luo, Chen & Yoshioka, "Dual-path RNN: efficient long sequence modeling for time-domain
    single-channel speech separation", ICASSP 2020 (arXiv:1910.06379), Sec. 2.
    Subakan et al., "Attention is all you need in speech separation", ICASSP 2021
    (arXiv:2010.13154); Jiang, Han & Mesgarani, "Dual-path Mamba", arXiv:2403.18257, 2024.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from ..errors import SeparenaError
from ..model import MaskSeparator
from .filterbanks import LearnedDecoder, LearnedEncoder, frame_padding
from .heads import MaskActivation, mask_activation
from .norms import GlobalLayerNorm
from .recurrent import RecurrentStack, RnnType

__all__ = ["chunk", "overlap_add", "DualPathBlock", "DualPathRNN", "DualPathMasker", "dual_path_net"]


def chunk(x: Tensor, chunk_size: int, hop: int) -> Tensor:
    """Split frames into overlapping chunks (zero-padded as in :func:`frame_padding`).

    Shapes:
        ``[batch, frames, features]`` -> ``[batch, n_chunks, chunk_size, features]``.
    """
    if not 1 <= hop <= chunk_size:
        raise SeparenaError(f"chunk: hop; expected 1..{chunk_size}, got {hop!r}")
    left, right, _ = frame_padding(x.shape[1], chunk_size, hop)
    x = nn.functional.pad(x, (0, 0, left, right))  # pad the frame axis
    return x.unfold(1, chunk_size, hop).transpose(2, 3).contiguous()  # [B, L, N, K] -> [B, L, K, N]


def overlap_add(chunks: Tensor, hop: int, length: int) -> Tensor:
    """Sum overlapping chunks back into a sequence: the adjoint of :func:`chunk`.

    ``overlap_add(chunk(x, K, hop), hop, len) == (K / hop) * x`` when ``hop`` divides ``K``
    (each frame lies in ``K / hop`` chunks). No normalisation, as in the paper.

    Shapes:
        ``[batch, n_chunks, chunk_size, features]`` -> ``[batch, length, features]``.
    """
    batch, n_chunks, chunk_size, features = chunks.shape
    left, right, expected = frame_padding(length, chunk_size, hop)
    if n_chunks != expected:
        raise SeparenaError(f"overlap_add: chunks for {length} frames; expected {expected}, got {n_chunks}")
    cols = chunks.permute(0, 3, 2, 1).reshape(batch, features * chunk_size, n_chunks)  # [B, N*K, L]
    out = nn.functional.fold(cols, (left + length + right, 1), (chunk_size, 1), stride=(hop, 1))  # [B, N, T', 1]
    return out[:, :, left: left + length, 0].transpose(1, 2)  # [B, N, T] -> [B, T, N]


class DualPathBlock(nn.Module):
    """An intra-chunk then an inter-chunk sequence model, each followed by gLN and a residual.

    Args:
        input_size: features N per frame.
        intra: a sequence model along the frames of each chunk, ``[batch, frames, N] ->
            [batch, frames, N]``: DPRNN's is a BLSTM and a linear back to N features, SepFormer's
            a transformer, DPMamba's a stack of Mamba layers.
        inter: the same across chunks, for each position in the chunk.

    Shapes:
        ``[batch, n_chunks, chunk_size, input_size]`` -> same.
    """

    def __init__(self, input_size: int, intra: nn.Module, inter: nn.Module) -> None:
        super().__init__()
        self.intra = intra
        self.intra_norm = GlobalLayerNorm(input_size)
        self.inter = inter
        self.inter_norm = GlobalLayerNorm(input_size)

    @staticmethod
    def _normed(norm: GlobalLayerNorm, y: Tensor) -> Tensor:
        # gLN over everything but the batch, per-feature affine: [B, A, C, N] -> [B, N, A*C] view.
        batch, a, c, n = y.shape
        return norm(y.reshape(batch, a * c, n).transpose(1, 2)).transpose(1, 2).reshape(batch, a, c, n)

    def forward(self, x: Tensor) -> Tensor:
        batch, n_chunks, chunk_size, n = x.shape
        y = self.intra(x.reshape(batch * n_chunks, chunk_size, n))  # along K
        x = x + self._normed(self.intra_norm, y.reshape(batch, n_chunks, chunk_size, n))
        y = self.inter(x.transpose(1, 2).reshape(batch * chunk_size, n_chunks, n))  # [B*K, L, N], along L
        y = self._normed(self.inter_norm, y.reshape(batch, chunk_size, n_chunks, n))
        return x + y.transpose(1, 2)  # [B, K, L, N] -> [B, L, K, N]

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        # DPRNN's paths were once an RNN and a linear side by side in the block: weights saved
        # then (published DPRNN-TasNet among them) load into the paths that hold both now.
        renames = {"intra_rnn.": "intra.0.", "intra_linear.": "intra.1.", "inter_rnn.": "inter.0.",
                   "inter_linear.": "inter.1."}
        for old, new in renames.items():
            for key in [k for k in state_dict if k.startswith(prefix + old)]:
                state_dict[prefix + new + key[len(prefix + old):]] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args)


class DualPathRNN(nn.Module):
    """A stack of :class:`DualPathBlock` whose paths are a recurrent stack and a linear back to
    ``input_size`` features (DPRNN).

    Args:
        input_size: features N per frame.
        hidden_size: recurrent units per direction.
        num_repeats: dual-path blocks.
        bidirectional: inter-chunk direction (the intra-chunk RNN is always bidirectional; a
            unidirectional inter-chunk RNN gives the paper's causal configuration).
        num_layers: layers of each RNN.
        dropout: dropout inside/after each RNN.
        rnn_type: ``"lstm"`` or ``"gru"``.

    Shapes:
        ``[batch, n_chunks, chunk_size, input_size]`` -> same (use :func:`chunk` before and
        :func:`overlap_add` after).
    """

    def __init__(self, input_size: int, hidden_size: int, num_repeats: int = 6, bidirectional: bool = True,
                 num_layers: int = 1, dropout: float = 0.0, rnn_type: RnnType = "lstm") -> None:
        super().__init__()
        if num_repeats < 1:
            raise SeparenaError(f"DualPathRNN: num_repeats; expected a positive integer, got {num_repeats!r}")

        def path(both_ways: bool) -> nn.Sequential:
            rnn = RecurrentStack(input_size, hidden_size, num_layers, both_ways, dropout, rnn_type)
            return nn.Sequential(rnn, nn.Linear(rnn.output_size, input_size))

        self.blocks = nn.Sequential(*(DualPathBlock(input_size, path(True), path(bidirectional))
                                      for _ in range(num_repeats)))

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x)


class DualPathMasker(nn.Module):
    """gLN -> bottleneck -> chunk -> dual-path blocks -> per-source maps -> overlap-add -> gate -> masks.

    The layout around the dual-path network is DPRNN's (the authors' released code, and
    asteroid's ``DPRNNTasNet``, MIT), which SepFormer and DPMamba keep: a 1x1 bottleneck to
    ``B`` features, PReLU and a linear to ``n_src`` maps per chunk, overlap-add, a tanh x sigmoid
    gate and a bias-free linear back to the encoder's filters, then the mask nonlinearity.

    Args:
        n_filters: encoder filters N.
        n_src: number of sources.
        bottleneck_size: features B inside the dual-path network.
        chunk_size: chunk length K in frames (hop ``K // 2``).
        dual_path: the dual-path network on ``[batch, chunks, K, B]`` (shape-preserving).
        mask_activation: ``"sigmoid"``, ``"softmax"`` (over sources) or ``"relu"``.
        bottleneck_bias: a bias in the bottleneck (DPRNN's; SepFormer's has none).

    Shapes:
        ``[batch, frames, n_filters]`` -> masks ``[batch, n_src, frames, n_filters]``.
    """

    def __init__(self, n_filters: int, n_src: int, bottleneck_size: int, chunk_size: int, dual_path: nn.Module,
                 mask_activation: MaskActivation, bottleneck_bias: bool = True) -> None:
        super().__init__()
        if mask_activation not in ("sigmoid", "softmax", "relu"):
            raise SeparenaError(f"DualPathMasker: mask_activation; expected sigmoid, softmax or relu, "
                                f"got {mask_activation!r}")
        if chunk_size < 2:
            raise SeparenaError(f"DualPathMasker: chunk_size; expected an integer >= 2, got {chunk_size!r}")
        self.n_src, self.chunk_size, self.hop = n_src, chunk_size, chunk_size // 2
        self.mask_activation = mask_activation
        self.norm = GlobalLayerNorm(n_filters)
        self.bottleneck = nn.Conv1d(n_filters, bottleneck_size, 1, bias=bottleneck_bias)
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


def dual_path_net(name: str, sequence: Callable[[], nn.Module], *, n_src: int, sample_rate: int, n_filters: int,
                  filter_length: int, d_model: int, num_repeats: int, chunk_size: int,
                  mask_activation: MaskActivation) -> MaskSeparator:
    """SepFormer's separator around any sequence model: a ReLU :class:`LearnedEncoder`,
    ``num_repeats`` :class:`DualPathBlock` whose intra- and inter-chunk paths each hold a fresh
    ``sequence()`` (``[batch, frames, d_model]`` -> same), the :class:`DualPathMasker` without a
    bottleneck bias, and a :class:`LearnedDecoder`; built in the order SepFormer and DPMamba
    always were (so seeded models stay the same). ``name`` (the architecture) starts the
    one-line error about a bad ``num_repeats``.

    Shapes:
        ``[batch, time]`` -> estimates ``[batch, n_src, time]`` (a :class:`MaskSeparator`).
    """
    if num_repeats < 1:
        raise SeparenaError(f"{name}: num_repeats; expected a positive integer, got {num_repeats!r}")
    blocks = nn.Sequential(*(DualPathBlock(d_model, sequence(), sequence()) for _ in range(num_repeats)))
    masker = DualPathMasker(n_filters, n_src, d_model, chunk_size, blocks, mask_activation, bottleneck_bias=False)
    return MaskSeparator(LearnedEncoder(n_filters, filter_length, activation="relu"), masker,
                         LearnedDecoder(n_filters, filter_length), n_src=n_src, sample_rate=sample_rate)
