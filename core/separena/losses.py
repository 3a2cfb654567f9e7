"""Training losses. Each is ``fn(output, sources, model) -> scalar`` (lower is better) and is
registered by name in the core's builtin plugin so that architectures declare objectives by name.

Permutation-invariant losses choose one permutation per *mixture* (not per TF bin, which is
what nussl 1.1.9's PermutationInvariantLoss effectively does and why it never separates).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from .errors import SeparenaError
from .metrics import best_permutation, pairwise_si_sdr

if TYPE_CHECKING:
    from .model import Separator, SeparatorOutput

__all__ = ["pit_si_sdr", "pit_mask_l1", "permute_sources"]


def permute_sources(pairwise_loss: Tensor) -> Tensor:
    """The per-mixture permutation minimising ``pairwise_loss [batch, est, ref]``: ``[batch, n_src]``."""
    _, perm = best_permutation(-pairwise_loss)
    return perm


def pit_si_sdr(output: SeparatorOutput, sources: Tensor, model: Separator | None = None) -> Tensor:
    """Negative SI-SDR with the best permutation per mixture, averaged over sources and batch.

    Shapes:
        ``output.estimates [batch, n_src, time]``, ``sources [batch, n_src, time]`` -> ``[]``.
    """
    scores, _ = best_permutation(pairwise_si_sdr(output.estimates, sources))
    return -scores.mean()


def pit_mask_l1(output: SeparatorOutput, sources: Tensor, model: Separator) -> Tensor:
    """L1 between masked mixture magnitudes and source magnitudes, best permutation per mixture.

    Needs a mask model with ``transform`` (its encoder). The target is the phase-sensitive
    magnitude of each source (``|S| cos(angle(S) - angle(X))``), which is what a real mask
    applied to the mixture can reach.

    Shapes:
        ``output.masks [batch, n_src, frames, freq]``, ``sources [batch, n_src, time]`` -> ``[]``.
    """
    if output.masks is None or not hasattr(model, "transform"):
        raise SeparenaError(f"loss pit-mask-l1 needs a mask model with transform(); got {type(model).__name__}")
    mix_spec = model.transform(sources.sum(1))  # [B, T, F]
    src_spec = model.transform(sources)  # [B, S, T, F]
    mix_mag = mix_spec.abs()
    target = (src_spec.abs() * torch.cos(src_spec.angle() - mix_spec.angle().unsqueeze(1))).clamp_min(0)
    estimate = output.masks * mix_mag.unsqueeze(1)
    pairwise = (estimate.unsqueeze(2) - target.unsqueeze(1)).abs().mean(dim=(-1, -2))  # [B, S, S]
    perm = permute_sources(pairwise)
    ref = torch.arange(pairwise.shape[-1], device=pairwise.device)
    batch = torch.arange(pairwise.shape[0], device=pairwise.device).unsqueeze(1)
    return pairwise[batch, perm, ref].mean()
