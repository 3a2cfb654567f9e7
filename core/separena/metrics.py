"""Separation metrics in torch: SI-SDR, SI-SDR improvement, and permutation matching.

All functions are batched over leading dimensions and differentiable.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor

__all__ = ["si_sdr", "pairwise_si_sdr", "best_permutation", "si_sdri", "bss_sdr", "sdri"]

EPS = 1e-8


def si_sdr(estimate: Tensor, reference: Tensor, zero_mean: bool = True) -> Tensor:
    """Scale-invariant SDR in dB (Le Roux et al., 2019).

    Shapes:
        ``[..., time]`` and ``[..., time]`` -> ``[...]``.
    """
    if zero_mean:
        estimate = estimate - estimate.mean(dim=-1, keepdim=True)
        reference = reference - reference.mean(dim=-1, keepdim=True)
    scale = (estimate * reference).sum(-1, keepdim=True) / (reference.square().sum(-1, keepdim=True) + EPS)
    target = scale * reference
    noise = estimate - target
    return 10 * torch.log10((target.square().sum(-1) + EPS) / (noise.square().sum(-1) + EPS))


def pairwise_si_sdr(estimates: Tensor, references: Tensor) -> Tensor:
    """SI-SDR of every estimate against every reference.

    Shapes:
        ``[batch, n_src, time]`` x2 -> ``[batch, n_src (estimate), n_src (reference)]``.
    """
    return si_sdr(estimates.unsqueeze(2), references.unsqueeze(1))


def best_permutation(pairwise: Tensor) -> tuple[Tensor, Tensor]:
    """Per item, the assignment of estimates to references that maximises the mean score.

    Args:
        pairwise: ``[batch, n_src, n_src]`` scores (estimate, reference).

    Returns:
        ``(scores [batch, n_src], perm [batch, n_src])`` where ``perm[b, r]`` is the estimate
        matched with reference ``r`` and ``scores[b, r]`` its score.
    """
    n_src = pairwise.shape[-1]
    perms = torch.tensor(list(itertools.permutations(range(n_src))), device=pairwise.device)  # [P, S]
    refs = torch.arange(n_src, device=pairwise.device)
    # totals[b, p] = sum_r pairwise[b, perms[p, r], r]
    per_perm = pairwise[:, perms, refs]  # [B, P, S]
    best = per_perm.mean(-1).argmax(-1)  # [B]
    index = torch.arange(pairwise.shape[0], device=pairwise.device)
    return per_perm[index, best], perms[best]


def si_sdri(estimates: Tensor, references: Tensor, mix: Tensor) -> Tensor:
    """SI-SDR improvement over the mixture per reference, with the best permutation.

    Shapes:
        estimates ``[batch, n_src, time]``, references ``[batch, n_src, time]``,
        mix ``[batch, time]`` -> ``[batch, n_src]``.
    """
    scores, _ = best_permutation(pairwise_si_sdr(estimates, references))
    baseline = si_sdr(mix.unsqueeze(1).expand_as(references), references)
    return scores - baseline


BSS_FILTER_LENGTH = 512  # BSS Eval's distortion filter length (taps), as in mir_eval / museval
BSS_CLAMP_DB = 100.0  # |SDR| is clamped here: beyond it float32 rounding decides, and inf breaks JSON


def bss_sdr(estimates: Tensor, references: Tensor, filter_length: int = BSS_FILTER_LENGTH) -> Tensor:
    """BSS Eval SDR in dB (Vincent et al., 2006) with the best permutation, via ``fast_bss_eval``.

    Not differentiable; clamped to +-100 dB. Computed in float32 (float64 inputs stay float64): 1.8x faster than
    float64, within 1e-4 dB of it on 4-s speech-sized signals (benchmarks/metric_speed.py).
    Matches museval's ``bss_eval(..., window=inf, bsseval_sources_version=True)`` (see
    tests/test_bench.py).

    Shapes:
        estimates ``[batch, n_src, time]``, references ``[batch, n_src, time]`` ->
        ``[batch, n_src]`` in reference order.
    """
    import fast_bss_eval

    dtype = torch.float64 if estimates.dtype == torch.float64 else torch.float32
    scores = fast_bss_eval.sdr(references.detach().to(dtype), estimates.detach().to(dtype),
                               filter_length=filter_length, load_diag=1e-10, clamp_db=BSS_CLAMP_DB)
    return scores.to(estimates.dtype)


def sdri(estimates: Tensor, references: Tensor, mix: Tensor, filter_length: int = BSS_FILTER_LENGTH,
         baseline: Tensor | None = None) -> Tensor:
    """BSS Eval SDR improvement over the unprocessed mixture, per reference.

    Args:
        baseline: the mixture's SDR ``bss_sdr(mix, references)`` if already known (it depends
            only on the data, so a benchmark computes it once per mixture, not once per model).

    Shapes:
        estimates ``[batch, n_src, time]``, references ``[batch, n_src, time]``,
        mix ``[batch, time]`` -> ``[batch, n_src]``.
    """
    if baseline is None:
        baseline = bss_sdr(mix.unsqueeze(1).expand_as(references), references, filter_length)
    return bss_sdr(estimates, references, filter_length) - baseline
