"""What streaming blocks keep between calls, and the overlap-add that frame-to-sample blocks share.

A block streams with ``step(x, state) -> (y, state)``: ``state`` is ``None`` on the first call
and whatever the block returned after, and the outputs of successive steps, concatenated over
time, are the block's ``forward`` on the whole input (to float rounding). Blocks that turn
samples into frames (:class:`~separena.blocks.STFT`, :class:`~separena.blocks.LearnedEncoder`)
and frames into samples (their inverses) also have ``flush(state)``: what only the end of the
input decides (the last frames' padding, the last samples' overlap-add). A block that depends
on the whole input (a bidirectional RNN, a global norm, k-means) has no ``step``, or refuses in
it with a :class:`~separena.SeparenaError` saying why.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

__all__ = ["FramingState", "OverlapAddState", "add_frames", "take_final"]


@dataclass(frozen=True)
class FramingState:
    """Samples kept by a framing block until the frames that need them are complete.

    ``samples`` ``[batch, n]`` start at position ``start`` of the block's padded input;
    ``next_frame`` is the first frame not given yet; ``received`` counts the input samples.
    """

    samples: Tensor
    start: int
    next_frame: int
    received: int


@dataclass(frozen=True)
class OverlapAddState:
    """An overlap-add in progress: ``total`` ``[batch, n]`` (and the summed squared windows
    ``weight`` ``[n]``, for an inverse STFT) at padded positions ``origin``, ``origin + 1``, ...;
    ``frames`` counts the frames added."""

    total: Tensor
    weight: Tensor | None
    origin: int
    frames: int


def add_frames(state: OverlapAddState | None, chunks: Tensor, hop: int, window_square: Tensor | None
               ) -> OverlapAddState:
    """Overlap-add ``chunks`` ``[batch, k, size]`` (frame ``j`` of them at padded position
    ``(state.frames + j) * hop``), and ``window_square`` ``[size]`` under each if given."""
    batch, k, size = chunks.shape
    if state is None:
        weight = None if window_square is None else chunks.new_zeros(0)
        state = OverlapAddState(chunks.new_zeros(batch, 0), weight, origin=0, frames=0)
    if k == 0:
        return state
    offset = state.frames * hop - state.origin  # where the first new frame starts in ``total``
    end = offset + (k - 1) * hop + size
    total = nn.functional.pad(state.total, (0, max(end - state.total.shape[-1], 0)))
    total[:, offset:end] += _fold(chunks, hop)
    weight = state.weight
    if window_square is not None and weight is not None:
        weight = nn.functional.pad(weight, (0, max(end - weight.shape[-1], 0)))
        weight[offset:end] += _fold(window_square.expand(1, k, size), hop)[0]
    return OverlapAddState(total, weight, state.origin, state.frames + k)


def take_final(state: OverlapAddState, until: int) -> tuple[Tensor, Tensor | None, OverlapAddState]:
    """Split off positions ``origin .. until - 1`` (padded with zeros where no frame reached):
    ``(total [batch, n], weight [n] | None, the state from until)``."""
    n = max(until - state.origin, 0)
    total = nn.functional.pad(state.total, (0, max(n - state.total.shape[-1], 0)))
    weight = state.weight
    if weight is not None:
        weight = nn.functional.pad(weight, (0, max(n - weight.shape[-1], 0)))
    rest = OverlapAddState(total[:, n:], None if weight is None else weight[n:], state.origin + n, state.frames)
    return total[:, :n], None if weight is None else weight[:n], rest


def _fold(chunks: Tensor, hop: int) -> Tensor:
    """``[batch, k, size]`` frames ``hop`` apart, summed: ``[batch, (k - 1) * hop + size]``."""
    batch, k, size = chunks.shape
    length = (k - 1) * hop + size
    folded = nn.functional.fold(chunks.transpose(1, 2), output_size=(1, length), kernel_size=(1, size),
                                stride=(1, hop))  # [B, 1, 1, length]
    return folded.reshape(batch, length)

