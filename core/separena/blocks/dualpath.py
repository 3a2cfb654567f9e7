"""Dual-path processing: split a long frame sequence into overlapping chunks, alternate an
intra-chunk and an inter-chunk recurrent network, and overlap-add the chunks back.

References:
    Luo, Chen & Yoshioka, "Dual-path RNN: efficient long sequence modeling for time-domain
    single-channel speech separation", ICASSP 2020 (arXiv:1910.06379), Sec. 2.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..errors import SeparenaError
from .filterbanks import frame_padding
from .norms import GlobalLayerNorm
from .recurrent import RecurrentStack, RnnType

__all__ = ["chunk", "overlap_add", "DualPathBlock", "DualPathRNN"]


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
    """Intra-chunk RNN then inter-chunk RNN, each followed by linear -> global layer norm -> residual.

    Args:
        input_size: features N per frame.
        hidden_size: recurrent units per direction.
        bidirectional: inter-chunk RNN direction (the intra-chunk RNN is always bidirectional;
            a unidirectional inter-chunk RNN gives the paper's causal configuration).
        num_layers: layers of each RNN.
        dropout: dropout inside/after each RNN.
        rnn_type: ``"lstm"`` or ``"gru"``.

    Shapes:
        ``[batch, n_chunks, chunk_size, input_size]`` -> same.
    """

    def __init__(self, input_size: int, hidden_size: int, bidirectional: bool = True, num_layers: int = 1,
                 dropout: float = 0.0, rnn_type: RnnType = "lstm") -> None:
        super().__init__()
        self.intra_rnn = RecurrentStack(input_size, hidden_size, num_layers, True, dropout, rnn_type)
        self.intra_linear = nn.Linear(self.intra_rnn.output_size, input_size)
        self.intra_norm = GlobalLayerNorm(input_size)
        self.inter_rnn = RecurrentStack(input_size, hidden_size, num_layers, bidirectional, dropout, rnn_type)
        self.inter_linear = nn.Linear(self.inter_rnn.output_size, input_size)
        self.inter_norm = GlobalLayerNorm(input_size)

    @staticmethod
    def _normed(norm: GlobalLayerNorm, y: Tensor) -> Tensor:
        # gLN over everything but the batch, per-feature affine: [B, A, C, N] -> [B, N, A*C] view.
        batch, a, c, n = y.shape
        return norm(y.reshape(batch, a * c, n).transpose(1, 2)).transpose(1, 2).reshape(batch, a, c, n)

    def forward(self, x: Tensor) -> Tensor:
        batch, n_chunks, chunk_size, n = x.shape
        y = self.intra_linear(self.intra_rnn(x.reshape(batch * n_chunks, chunk_size, n)))  # along K
        x = x + self._normed(self.intra_norm, y.reshape(batch, n_chunks, chunk_size, n))
        y = x.transpose(1, 2).reshape(batch * chunk_size, n_chunks, n)  # [B, L, K, N] -> [B*K, L, N]
        y = self.inter_linear(self.inter_rnn(y))  # along L
        y = self._normed(self.inter_norm, y.reshape(batch, chunk_size, n_chunks, n))
        return x + y.transpose(1, 2)  # [B, K, L, N] -> [B, L, K, N]


class DualPathRNN(nn.Module):
    """A stack of :class:`DualPathBlock` over chunked frames.

    Args:
        input_size: features N per frame.
        hidden_size: recurrent units per direction.
        num_repeats: dual-path blocks.
        bidirectional: inter-chunk direction (see :class:`DualPathBlock`).
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
        self.blocks = nn.Sequential(*(
            DualPathBlock(input_size, hidden_size, bidirectional, num_layers, dropout, rnn_type)
            for _ in range(num_repeats)
        ))

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x)
