"""Mamba's selective scan, in chunks of time, with its gradient written out.

mambapy's parallel scan builds the whole ``[batch, time, channels, state]`` tensors of the
recurrence several times over (the decay, the input, the states and the scan's partial
products): a bidirectional layer over a 4-second batch of eight mixtures in a dual-path model
needed gigabytes, and most of a training step went to element-wise products and zero-filling
those tensors. This scan walks the recurrence step by step in place, one chunk of frames at a
time, so that no tensor is larger than a chunk's; the backward pass recomputes each chunk's
states from the state kept at its start and runs the recurrence of the gradient backwards
through them (gradient checkpointing per chunk). Same numbers as mambapy's scan up to float
rounding (tested against it, gradients included).

The recurrence, per batch item, channel ``e`` and state ``n``::

    h[t] = exp(delta[t, e] * A[e, n]) * h[t - 1] + u[t, e] * B[t, n],    h[-1] = 0
    y[t, e] = sum_n C[t, n] * h[t, e, n]
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["selective_scan", "parallel_scan", "CHUNK_ELEMENTS"]

CHUNK_ELEMENTS = 2**22
"""Elements of a chunk's ``[frames, batch, channels, state]`` tensors (16 MB in float32): the
chunk holds as many frames as fit, at least one."""


def _chunk_states(delta: Tensor, A: Tensor, B: Tensor, u: Tensor, start: Tensor) -> tuple[Tensor, Tensor]:
    """The decays ``exp(delta A)`` and the states of one chunk, from the state before it.

    Shapes:
        delta, u: ``[frames, batch, E]``; A: ``[E, N]``; B: ``[frames, batch, N]``;
        start: ``[batch, E, N]`` -> decays and states ``[frames, batch, E, N]``.
    """
    decay = (delta.unsqueeze(-1) * A).exp_()
    states = u.unsqueeze(-1) * B.unsqueeze(-2)  # each frame's input, turned into its state in place
    states[0].addcmul_(decay[0], start)
    for t in range(1, states.shape[0]):
        states[t].addcmul_(decay[t], states[t - 1])
    return decay, states


def _scan(delta: Tensor, A: Tensor, B: Tensor, C: Tensor, u: Tensor, frames: int,
          keep_starts: bool) -> tuple[Tensor, list[Tensor]]:
    """``y`` of the recurrence, chunk by chunk, and (``keep_starts``) the state before each chunk;
    shapes as in :class:`_SelectiveScan`."""
    length = delta.shape[0]
    state = delta.new_zeros(delta.shape[1], *A.shape)
    y = delta.new_empty(delta.shape)
    starts = []
    for s in range(0, length, frames):
        e = min(s + frames, length)
        if keep_starts:
            starts.append(state)
        _, states = _chunk_states(delta[s:e], A, B[s:e], u[s:e], state)
        y[s:e] = (states @ C[s:e].unsqueeze(-1)).squeeze(-1)
        state = states[-1].clone()  # a view would keep the whole chunk alive
    return y, starts


class _SelectiveScan(torch.autograd.Function):
    """The recurrence on time-major inputs: ``delta, u [time, batch, E]``, ``A [E, N]``,
    ``B, C [time, batch, N]`` -> ``y [time, batch, E]``."""

    @staticmethod
    def forward(ctx: Any, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, u: Tensor, frames: int) -> Tensor:
        y, starts = _scan(delta, A, B, C, u, frames, keep_starts=True)
        ctx.save_for_backward(delta, A, B, C, u, torch.stack(starts))
        ctx.frames = frames
        return y

    @staticmethod
    def backward(ctx: Any, grad_y: Tensor) -> tuple[Tensor | None, ...]:
        delta, A, B, C, u, starts = ctx.saved_tensors
        grad_y = grad_y.contiguous()
        length, frames = delta.shape[0], ctx.frames
        grad_delta, grad_B, grad_C, grad_u = (torch.empty_like(v) for v in (delta, B, C, u))
        grad_A = torch.zeros_like(A)
        carried = None  # the gradient reaching the last state of a chunk from the chunk after it
        for i in reversed(range(len(starts))):
            s = i * frames
            e = min(s + frames, length)
            decay, states = _chunk_states(delta[s:e], A, B[s:e], u[s:e], starts[i])
            grad_C[s:e] = (grad_y[s:e].unsqueeze(-2) @ states).squeeze(-2)
            grad_h = grad_y[s:e].unsqueeze(-1) * C[s:e].unsqueeze(-2)
            if carried is not None:
                grad_h[-1] += carried
            for t in range(e - s - 2, -1, -1):
                grad_h[t].addcmul_(decay[t + 1], grad_h[t + 1])
            carried = decay[0] * grad_h[0]
            grad_u[s:e] = (grad_h @ B[s:e].unsqueeze(-1)).squeeze(-1)
            grad_B[s:e] = (u[s:e].unsqueeze(-2) @ grad_h).squeeze(-2)
            # d h[t] / d decay[t] = h[t - 1], and d decay / d (delta A) = decay: reuse the buffers.
            grad_log_decay = grad_h.mul_(decay)
            grad_log_decay[1:].mul_(states[:-1])
            grad_log_decay[0].mul_(starts[i])
            grad_delta[s:e] = (grad_log_decay * A).sum(-1)
            grad_A += grad_log_decay.mul_(delta[s:e].unsqueeze(-1)).sum((0, 1))  # einsum would copy the chunk
        return grad_delta, grad_A, grad_B, grad_C, grad_u, None


def selective_scan(x: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor,
                   chunk_elements: int = CHUNK_ELEMENTS) -> Tensor:
    """Mamba's selective scan with the skip term, ``y = scan(delta, A, B, C, delta * x) + D * x``
    (mambapy's ``selective_scan`` signature, so it can stand in for it). CUDA tensors take
    :func:`parallel_scan`: a GPU runs its passes at once and has the memory for them.

    Shapes:
        x, delta: ``[batch, time, E]``; A: ``[E, N]``; B, C: ``[batch, time, N]``; D: ``[E]``
        -> ``[batch, time, E]``.
    """
    if x.is_cuda:
        return parallel_scan(x, delta, A, B, C, D)
    batch, _, channels = x.shape
    frames = max(1, chunk_elements // (batch * channels * A.shape[-1]))

    def time_major(v: Tensor) -> Tensor:
        return v.transpose(0, 1).contiguous()

    inputs = (time_major(delta), A, time_major(B), time_major(C), time_major(delta * x))
    if torch.is_grad_enabled() and any(v.requires_grad for v in (x, delta, A, B, C)):
        y = _SelectiveScan.apply(*inputs, frames)
    else:  # nothing to differentiate (evaluation): no chunk's start state is kept for a backward pass
        y = _scan(*inputs, frames, keep_starts=False)[0]
    return y.transpose(0, 1) + D * x


def parallel_scan(x: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor) -> Tensor:
    """The same as :func:`selective_scan` by mambapy's parallel scan over whole
    ``[batch, time, E, N]`` tensors (its formulation, for GPUs); shapes as there."""
    from mambapy.pscan import pscan

    decay = torch.exp(delta.unsqueeze(-1) * A)
    inputs = (delta * x).unsqueeze(-1) * B.unsqueeze(-2)
    return (pscan(decay, inputs) @ C.unsqueeze(-1)).squeeze(-1) + D * x
