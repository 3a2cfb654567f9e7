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
from .metrics import _si_sdr_energies, best_permutation, energy_eps, pairwise_si_sdr

if TYPE_CHECKING:
    from .model import Separator, SeparatorOutput

__all__ = ["si_sdr_loss", "usdr_loss", "pit_si_sdr", "pit_mask_l1", "permute_sources", "affinity_loss",
           "ideal_binary_assignments",
           "deep_clustering", "deep_clustering_va"]


def permute_sources(pairwise_loss: Tensor) -> Tensor:
    """The per-mixture permutation minimising ``pairwise_loss [batch, est, ref]``: ``[batch, n_src]``."""
    _, perm = best_permutation(-pairwise_loss)
    return perm


def _check_in_order(loss: str, estimates: Tensor, sources: Tensor) -> None:
    """A fixed-order loss pairs estimate ``k`` with source ``k``: the shapes must agree."""
    if estimates.shape != sources.shape:
        raise SeparenaError(f"loss {loss}: estimates and sources differ in shape; expected "
                            f"{list(sources.shape)}, got {list(estimates.shape)}")


SI_SDR_LOSS_FLOOR_DB = 30.0  # an estimate's ratio counts between -30 and +30 dB


def si_sdr_loss(output: SeparatorOutput, sources: Tensor, model: Separator | None = None) -> Tensor:
    """Negative SI-SDR of each estimate against the reference *in the same position*, polarity
    included, averaged.

    No permutation: for sources with fixed roles (music stems: vocals, bass, drums, other),
    estimate ``k`` must be source ``k``, so permutation invariance would be wrong. And for the
    same reason the polarity counts: the metric scales the reference by the projection
    ``<s_hat, s> / |s|^2``, negative for an inverted estimate ``-s``, which it scores as well as
    ``s``. Trained on that and :func:`usdr_loss`, models that write waveforms got stuck with
    inverted stems (Hybrid Demucs's vocals and drums, BS-RoFormer's bass and drums, Mel-Band
    RoFormer's vocals, in every test mixture), which the uSDR term could only shrink: the SI-SDR
    term's pull away from zero, as ``1 / scale``, held them there (docs/benchmarks/quality.md).
    Here the scale is clipped at zero, and both energies get a floor of the estimate's energy
    30 dB down: an inverted estimate scores -30 dB, as one orthogonal to its source does, with no
    gradient from this term, and the score is continuous where the scale crosses zero. Still
    scale-invariant (the floor scales with the estimate); within 0.05 dB of the metric from -10
    to 10 dB, 0.4 dB under it at 20.

    Shapes:
        ``output.estimates [batch, n_src, time]``, ``sources [batch, n_src, time]`` -> ``[]``.
    """
    _check_in_order("si-sdr", output.estimates, sources)
    target, noise, estimate, eps = _si_sdr_energies(output.estimates, sources, polarity=True)  # [B, S] each
    floor = 10 ** (-SI_SDR_LOSS_FLOOR_DB / 10) * estimate + eps
    return -(10 * torch.log10((target + floor) / (noise + floor))).mean()


USDR_LOSS_FLOOR_DB = 30.0  # a stem's error stops counting this far under the mixture


def usdr_loss(output: SeparatorOutput, sources: Tensor, model: Separator | None = None) -> Tensor:
    """Negative uSDR (the metric :func:`~separena.metrics.usdr`) of each estimate against the
    reference in the same position, averaged; softly capped at 30 dB under the mixture.

    Not scale-invariant: a stem must come out at its level, so that the stems sum to the
    mixture and score on the SDRs music papers report (SI-SDR leaves each estimate's gain
    free). Both energies get a floor of the mixture's energy 30 dB down (the thresholded SNR
    of Wisdom et al., NeurIPS 2020, relative to the mixture): a stem silent in a training crop
    then asks only for an estimate 30 dB under the mixture, not for an infinite ratio, and
    stems already that good stop dominating the gradient.

    Shapes:
        ``output.estimates [batch, n_src, time]``, ``sources [batch, n_src, time]`` -> ``[]``.
    """
    _check_in_order("usdr", output.estimates, sources)
    target = sources.square().sum(-1)  # [B, S]
    error = (sources - output.estimates).square().sum(-1)
    mixture = sources.sum(1).square().sum(-1, keepdim=True)  # [B, 1]
    floor = 10 ** (-USDR_LOSS_FLOOR_DB / 10) * mixture + energy_eps(mixture)
    return (10 * torch.log10((error + floor) / (target + floor))).mean()


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


def affinity_loss(embedding: Tensor, assignments: Tensor, weights: Tensor | None = None) -> Tensor:
    """Deep clustering's affinity loss in its low-rank form, per item, averaged over the batch.

    ``|W^½ (V Vᵀ − Y Yᵀ) W^½|²_F = |VᵀWV|² − 2|VᵀWY|² + |YᵀWY|²`` with ``W = diag(w)`` (Hershey et al. 2016, eq. 2;
    weighted as in Wang et al. 2018, eq. 7), divided by ``(Σ w)²`` so that it lies in [0, 2]
    for unit-norm rows whatever the number of bins. Costs O(N D²), never forms the N x N
    affinity matrices. Equals nussl's ``DeepClusteringLoss`` with its weights = ``√w``.

    Args:
        embedding: ``V``, one (unit-norm) embedding per TF bin.
        assignments: ``Y``, one-hot (or soft) assignment of each bin to a source.
        weights: ``w``, a non-negative weight per bin, or None for all ones.

    Shapes:
        embedding ``[batch, ..., D]``, assignments ``[batch, ..., S]``, weights ``[batch, ...]``
        (the same ``...``) -> ``[]``.
    """
    batch = embedding.shape[0]
    v = embedding.reshape(batch, -1, embedding.shape[-1])  # [B, N, D]
    y = assignments.reshape(batch, -1, assignments.shape[-1]).to(v.dtype)  # [B, N, S]
    if v.shape[1] != y.shape[1]:
        raise SeparenaError(f"affinity_loss: bins of embedding and assignments differ; expected "
                            f"{v.shape[1]}, got {y.shape[1]}")
    if weights is None:
        w = v.new_ones(batch, v.shape[1])
    else:
        w = weights.reshape(batch, -1).to(v.dtype)
    w = w.clamp_min(0)
    wv = v * w.unsqueeze(-1)  # W V: [B, N, D]
    vtv = torch.bmm(v.transpose(1, 2), wv).square().sum((1, 2))  # |Vᵀ W V|²
    vty = torch.bmm(wv.transpose(1, 2), y).square().sum((1, 2))  # |Vᵀ W Y|²
    yty = torch.bmm(y.transpose(1, 2), y * w.unsqueeze(-1)).square().sum((1, 2))  # |Yᵀ W Y|²
    norm = w.sum(1).square().clamp_min(1e-8)
    return ((vtv - 2 * vty + yty) / norm).mean()


def ideal_binary_assignments(source_specs: Tensor) -> Tensor:
    """One-hot assignment of every TF bin to the source of largest magnitude there.

    Shapes:
        complex or real ``[batch, n_src, frames, freq]`` -> ``[batch, frames, freq, n_src]`` (int64).
    """
    magnitude = source_specs.abs()
    # A running max over sources instead of argmax(1): argmax over a short strided dim is
    # slow on CPU. Strict ">" keeps the first maximum, like argmax.
    best, dominant = magnitude[:, 0], torch.zeros_like(magnitude[:, 0], dtype=torch.long)  # [B, T, F]
    for s in range(1, magnitude.shape[1]):
        better = magnitude[:, s] > best
        best, dominant = torch.where(better, magnitude[:, s], best), dominant.masked_fill(better, s)
    return torch.nn.functional.one_hot(dominant, source_specs.shape[1])


def _deep_clustering_terms(output: SeparatorOutput, sources: Tensor, model: Separator,
                           name: str) -> tuple[Tensor, Tensor, Tensor]:
    """``(embedding, ideal binary assignments, mixture magnitude)`` for the DC losses."""
    if output.embedding is None or not hasattr(model, "transform"):
        raise SeparenaError(f"loss {name}: needs an embedding model with transform(); expected "
                            f"output.embedding and model.transform, got {type(model).__name__}")
    src_spec = model.transform(sources)  # [B, S, T, F]
    if src_spec.shape[-2:] != output.embedding.shape[1:3]:
        raise SeparenaError(f"loss {name}: embedding [batch, frames, freq, dim] must match the transform; "
                            f"expected frames x freq {tuple(src_spec.shape[-2:])}, "
                            f"got {tuple(output.embedding.shape[1:3])}")
    mix_mag = src_spec.sum(1).abs()  # the STFT is linear: no second transform of the mixture
    return output.embedding, ideal_binary_assignments(src_spec), mix_mag


def deep_clustering(output: SeparatorOutput, sources: Tensor, model: Separator) -> Tensor:
    """Deep clustering loss with magnitude-ratio weights (Wang et al. 2018, "DC-W").

    ``Y`` is the ideal binary assignment from ``model.transform(sources)``; each bin is
    weighted by the mixture magnitude there (``|X| / Σ|X|``; the scale cancels in the
    normalisation), so silent bins, whose assignment is arbitrary, barely count.

    Shapes:
        ``output.embedding [batch, frames, freq, D]``, ``sources [batch, n_src, time]`` -> ``[]``.
    """
    embedding, assignments, mix_mag = _deep_clustering_terms(output, sources, model, "deep-clustering")
    return affinity_loss(embedding, assignments, mix_mag)


def deep_clustering_va(output: SeparatorOutput, sources: Tensor, model: Separator,
                       threshold_db: float = 40.0) -> Tensor:
    """Deep clustering loss with binary voice-activity weights (Hershey et al. 2016; Wang et al. 2018).

    Bins more than ``threshold_db`` below the loudest bin of their mixture get weight 0,
    the others weight 1.

    Shapes:
        ``output.embedding [batch, frames, freq, D]``, ``sources [batch, n_src, time]`` -> ``[]``.
    """
    embedding, assignments, mix_mag = _deep_clustering_terms(output, sources, model, "deep-clustering-va")
    level = 20 * torch.log10(mix_mag.clamp_min(1e-8))  # [B, T, F]
    active = level > level.amax(dim=(1, 2), keepdim=True) - threshold_db
    return affinity_loss(embedding, assignments, active)
