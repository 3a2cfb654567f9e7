"""Separation metrics in torch: SI-SDR, SI-SDR improvement, and permutation matching.

All functions are batched over leading dimensions and differentiable.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor

from .errors import SeparenaError

__all__ = ["si_sdr_metric", "bss_sdr_metric", "sir_metric", "sar_metric", "usdr_metric", "csdr_metric",
           "stoi_metric", "pesq_metric", "si_sdr", "energy_eps", "pairwise_si_sdr", "best_permutation",
           "matched_si_sdr", "si_sdri", "pairwise_bss_sdr", "bss_sdr", "sdri", "bss_eval_sources", "usdr", "csdr"]


def energy_eps(*energies: Tensor) -> Tensor:
    """The guard added to energies in SI-SDR (metric and losses): relative, so scale-free.

    ``finfo.eps ** 2 * sum(energies) + sqrt(finfo.tiny)``. A fixed guard (it was 1e-8) breaks
    scale invariance: a quiet signal's energy is of the guard's order (8000 samples at -120
    dBFS sum to 8e-9), so SI-SDR fell from 20 dB to 4.8 dB when both signals were scaled by
    1e-6. Relative to the energies the guard scales with them: it caps a perfect estimate at
    ``10 log10(1 / (2 eps**2))`` (135 dB in float32, 310 dB in float64) and moves other scores
    by under 1e-9 dB below 40 dB. The absolute ``sqrt(tiny)`` term (1e-19 in float32) only
    matters for all-zero signals: it keeps 0 / 0 at 0 dB, and its inverse, which the
    gradients of all-zero inputs multiply by zero, far from overflow (``1 / tiny`` would not be).

    Shapes:
        any number of broadcastable energies ``[...]`` -> ``[...]``.
    """
    info = torch.finfo(energies[0].dtype)
    return info.eps ** 2 * sum(energies) + math.sqrt(info.tiny)


def si_sdr(estimate: Tensor, reference: Tensor, zero_mean: bool = True) -> Tensor:
    """Scale-invariant SDR in dB (Le Roux et al., 2019).

    ``si_sdr(a * estimate, b * reference) == si_sdr(estimate, reference)`` for any ``a, b > 0``
    (to rounding: the energy guard is relative, :func:`energy_eps`). All-zero inputs give
    0 dB, with finite gradients. A silent reference with a non-silent estimate, where SI-SDR
    is undefined, gives a constant (-138 dB in float32, -313 dB in float64) and no gradient.

    Shapes:
        ``[..., time]`` and ``[..., time]`` -> ``[...]``.
    """
    target, noise, _, eps = _si_sdr_energies(estimate, reference, zero_mean)
    return 10 * torch.log10((target + eps) / (noise + eps))


def _si_sdr_energies(estimate: Tensor, reference: Tensor, zero_mean: bool = True,
                     polarity: bool = False) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """SI-SDR's parts: the energies of the target (the reference scaled by the estimate's
    projection on it), of the rest of the estimate and of the estimate, and the energy guard
    (:func:`energy_eps`). With ``polarity`` the scale is clipped at zero, so an inverted
    estimate has no target (the fixed-order loss, :func:`separena.losses.si_sdr_loss`).

    Shapes:
        ``[..., time]`` and ``[..., time]`` -> four ``[...]``.
    """
    if zero_mean:
        estimate = estimate - estimate.mean(dim=-1, keepdim=True)
        reference = reference - reference.mean(dim=-1, keepdim=True)
    estimate_energy = estimate.square().sum(-1, keepdim=True)  # [..., 1]
    reference_energy = reference.square().sum(-1, keepdim=True)
    eps = energy_eps(estimate_energy, reference_energy)  # [..., 1]
    projection = (estimate * reference).sum(-1, keepdim=True)
    scale = (projection.clamp_min(0) if polarity else projection) / (reference_energy + eps)
    target = scale * reference
    noise = estimate - target
    return target.square().sum(-1), noise.square().sum(-1), estimate_energy.squeeze(-1), eps.squeeze(-1)


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


def matched_si_sdr(estimates: Tensor, references: Tensor, permutation_invariant: bool = True) -> tuple[Tensor, Tensor]:
    """SI-SDR per reference once estimates are matched to references: by the best permutation
    (speakers), or in order (sources with fixed roles, e.g. music stems).

    Shapes:
        ``[batch, n_src, time]`` x2 -> ``(scores [batch, n_src], perm [batch, n_src])`` where
        ``perm[b, r]`` is the estimate matched with reference ``r``.
    """
    if permutation_invariant:
        return best_permutation(pairwise_si_sdr(estimates, references))
    order = torch.arange(references.shape[1], device=references.device).expand(references.shape[:2])
    return si_sdr(estimates, references), order


def si_sdri(estimates: Tensor, references: Tensor, mix: Tensor, permutation_invariant: bool = True) -> Tensor:
    """SI-SDR improvement over the mixture per reference (see :func:`matched_si_sdr`).

    Shapes:
        estimates ``[batch, n_src, time]``, references ``[batch, n_src, time]``,
        mix ``[batch, time]`` -> ``[batch, n_src]``.
    """
    scores, _ = matched_si_sdr(estimates, references, permutation_invariant)
    return scores - si_sdr(mix.unsqueeze(1).expand_as(references), references)


BSS_FILTER_LENGTH = 512  # BSS Eval's distortion filter length (taps), as in mir_eval / museval
BSS_CLAMP_DB = 100.0  # |SDR| is clamped here: beyond it float32 rounding decides, and inf breaks JSON


def pairwise_bss_sdr(estimates: Tensor, references: Tensor, filter_length: int = BSS_FILTER_LENGTH) -> Tensor:
    """BSS Eval SDR in dB (Vincent et al., 2006) of every estimate against every reference.

    The algorithm of ``fast_bss_eval.sdr`` (Scheibler, 2021): each estimate is projected onto
    ``filter_length`` delayed copies of each reference by solving the reference's Toeplitz
    normal equations, here with a Cholesky factorisation (SPD by construction), which is
    ~1.6x faster than the general solver. Not differentiable; clamped to +-100 dB; float32
    unless the inputs are float64.

    Shapes:
        ``[batch, n_src, time]`` x2 -> ``[batch, n_src (estimate), n_src (reference)]``.
    """
    dtype = torch.float64 if estimates.dtype == torch.float64 else torch.float32
    est = estimates.detach().to(dtype)
    ref = references.detach().to(dtype)
    est = est / est.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    ref = ref / ref.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    # Only lags 0..L-1 are needed: circular correlation is exact for them once n_fft >= T + L.
    n_fft = 2 ** math.ceil(math.log2(max(ref.shape[-1], est.shape[-1]) + filter_length))
    ref_f = torch.fft.rfft(ref, n_fft)  # [B, S, F]
    est_f = torch.fft.rfft(est, n_fft)
    acf = torch.fft.irfft(ref_f.real.square() + ref_f.imag.square(), n_fft)[..., :filter_length]  # [B, S, L]
    acf[..., 0] += 1e-10  # load the diagonal: silent references stay solvable
    # xcorr[b, r, l, e] = sum_t ref[b, r, t] est[b, e, t + l]
    xcorr = torch.fft.irfft(ref_f.conj().unsqueeze(-1) * est_f.transpose(-1, -2).unsqueeze(-3), n_fft,
                            dim=-2)[..., :filter_length, :]  # [B, S_ref, L, S_est]
    lags = torch.arange(filter_length, device=acf.device)
    toeplitz = acf[..., (lags[:, None] - lags[None, :]).abs()]  # [B, S_ref, L, L]
    chol, info = torch.linalg.cholesky_ex(toeplitz)
    if bool((info != 0).any()):
        # float32 rounding made a near-singular system indefinite: redo it in float64 with a
        # light diagonal load. (Not torch.linalg.solve: its batched multi-threaded CPU path
        # fails on such systems with a bogus "Pivots given to lu_solve" error.)
        loaded = toeplitz.double() + 1e-9 * torch.eye(filter_length, dtype=torch.float64, device=acf.device)
        chol, info = torch.linalg.cholesky_ex(loaded)
        if bool((info != 0).any()):
            solution = torch.linalg.lstsq(loaded, xcorr.double(), driver="gelsd").solution.to(dtype)
        else:
            solution = torch.cholesky_solve(xcorr.double(), chol).to(dtype)
    else:
        solution = torch.cholesky_solve(xcorr, chol)
    coherence = (xcorr * solution).sum(-2)  # [B, S_ref, S_est]: energy share of the projection
    tiny = 10.0 ** (-BSS_CLAMP_DB / 10.0) / (1.0 + 10.0 ** (-BSS_CLAMP_DB / 10.0))
    coherence = coherence.clamp(tiny, 1 - tiny)
    return 10 * torch.log10(coherence / (1 - coherence)).transpose(-1, -2)  # [B, S_est, S_ref]


def bss_sdr(estimates: Tensor, references: Tensor, filter_length: int = BSS_FILTER_LENGTH,
            permutation_invariant: bool = True) -> Tensor:
    """BSS Eval SDR in dB with the best permutation (or in order); see :func:`pairwise_bss_sdr`.

    The permutation maximises the mean SDR (as ``fast_bss_eval.sdr``; museval maximises the
    mean SIR, which agrees unless two assignments are close). Equal to ``fast_bss_eval.sdr``
    and to museval's ``bss_eval(..., window=inf, bsseval_sources_version=True)``, permutation
    included (tests/test_peers.py).

    Shapes:
        estimates ``[batch, n_src, time]``, references ``[batch, n_src, time]`` ->
        ``[batch, n_src]`` in reference order.
    """
    pairwise = pairwise_bss_sdr(estimates, references, filter_length)  # [B, S_est, S_ref]
    if not permutation_invariant:  # fixed roles: estimate k is scored against reference k
        return pairwise.diagonal(dim1=-2, dim2=-1).to(estimates.dtype)
    scores, _ = best_permutation(pairwise)
    return scores.to(estimates.dtype)


def sdri(estimates: Tensor, references: Tensor, mix: Tensor, filter_length: int = BSS_FILTER_LENGTH,
         baseline: Tensor | None = None, permutation_invariant: bool = True) -> Tensor:
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
    return bss_sdr(estimates, references, filter_length, permutation_invariant) - baseline


def bss_eval_sources(estimates: Tensor, references: Tensor,
                     filter_length: int = BSS_FILTER_LENGTH) -> tuple[Tensor, Tensor, Tensor]:
    """BSS Eval's ``(SDR, SIR, SAR)`` in dB (Vincent et al., 2006; the "sources" version of
    mir_eval and museval v3) of each estimate against the reference in the same position, from
    ``fast_bss_eval.bss_eval_sources``.

    The estimate is projected onto ``filter_length`` delays of its own reference (the target)
    and of all the references together; what the second adds is interference (SIR: target over
    interference), what neither explains is artifacts (SAR: target plus interference over
    artifacts). Unlike :func:`bss_sdr`, which needs only the first projection, this solves one
    ``n_src * filter_length`` system per mixture. Every signal is brought to unit energy first
    (the scores do not depend on any one signal's scale) and the system's diagonal loaded by
    1e-10, so a silent reference stays solvable. Float64, clamped to +-100 dB; not differentiable.

    Shapes:
        estimates ``[..., n_src, time]``, references ``[..., n_src, time]`` -> three ``[..., n_src]``.
    """
    import fast_bss_eval

    est, ref = (x.detach().double() for x in (estimates, references))
    est = est / est.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    ref = ref / ref.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return fast_bss_eval.bss_eval_sources(ref, est, filter_length=filter_length, clamp_db=BSS_CLAMP_DB,
                                          compute_permutation=False, load_diag=1e-10)


def usdr(estimates: Tensor, references: Tensor) -> Tensor:
    """SDR in dB over the whole signal, as the Music Demixing Challenge 2021 scores a song (the
    "uSDR" of later music papers): ``10 log10(sum s^2 / sum (s - s_hat)^2)``.

    Neither projected nor scale-invariant: a gain error costs, as it does to a listener of a
    remix. The guard is :func:`energy_eps` (relative), so the score does not depend on the
    scale of both signals together; MDX adds an absolute 1e-7 instead.

    Shapes:
        ``[..., time]`` x2 -> ``[...]``.
    """
    target = references.square().sum(-1)
    error = (references - estimates).square().sum(-1)
    eps = energy_eps(target, error)
    return 10 * torch.log10((target + eps) / (error + eps))


def csdr(estimates: Tensor, references: Tensor, frame: int) -> Tensor:
    """SDR in dB as SiSEC 2018 reports it (museval's BSS Eval v4, images mode): :func:`usdr` of
    each frame of ``frame`` samples, the median over frames (the "cSDR" of later papers).

    In v4's images mode the distortion filters only split the error ``s_hat - s`` into spatial,
    interference and artifact parts; SDR sums them again, so no filter is needed here (equal to
    ``museval.evaluate`` within float rounding, tests/test_peers.py). As museval: frames are
    ``[k * frame, (k + 1) * frame)``, a partial last frame is dropped (an input shorter than one
    frame is one frame), a frame where any reference or any estimate of the mixture is all
    zeros is left out for every source, and a mixture without frames left scores NaN. The
    median of an even count is the mean of the middle two (``numpy.nanmedian``).

    Shapes:
        estimates ``[..., n_src, time]``, references ``[..., n_src, time]`` -> ``[..., n_src]``.
    """
    if frame < 1:
        raise SeparenaError(f"csdr: frame: expected a positive number of samples, got {frame}")
    length = references.shape[-1]
    n_frames = max(length // frame, 1)
    size = frame if length >= frame else length
    est = estimates[..., : n_frames * size].unflatten(-1, (n_frames, size))  # [..., n_src, frames, size]
    ref = references[..., : n_frames * size].unflatten(-1, (n_frames, size))
    silent = ((ref == 0).all(-1) | (est == 0).all(-1)).any(-2, keepdim=True)  # [..., 1, frames]
    scores = usdr(est, ref).masked_fill(silent, math.nan)
    return scores.nanquantile(0.5, dim=-1)


# -- registered metrics ---------------------------------------------------------------------
# The functions behind the core's MetricSpecs (separena._plugins.builtin): one mixture's
# estimates, already matched to its references, scored in order. Shapes: estimates
# ``[n_src, time]``, references ``[n_src, time]`` -> ``[n_src]``.


def si_sdr_metric(estimates: Tensor, references: Tensor, sample_rate: int) -> Tensor:
    """SI-SDR in dB of each estimate against the reference in the same position."""
    return si_sdr(estimates.float(), references.float())


def bss_sdr_metric(estimates: Tensor, references: Tensor, sample_rate: int) -> Tensor:
    """BSS Eval SDR in dB (512-tap filter) of each estimate against the reference in the same position."""
    return bss_sdr(estimates.float().unsqueeze(0), references.float().unsqueeze(0), permutation_invariant=False)[0]


def sir_metric(estimates: Tensor, references: Tensor, sample_rate: int) -> Tensor:
    """BSS Eval SIR in dB (512-tap filters) of each estimate against the reference in the same position."""
    return bss_eval_sources(estimates, references)[1].float()


def sar_metric(estimates: Tensor, references: Tensor, sample_rate: int) -> Tensor:
    """BSS Eval SAR in dB (512-tap filters) of each estimate against the reference in the same position."""
    return bss_eval_sources(estimates, references)[2].float()


def usdr_metric(estimates: Tensor, references: Tensor, sample_rate: int) -> Tensor:
    """uSDR in dB (MDX 2021's SDR) of each estimate against the reference in the same position."""
    return usdr(estimates.double(), references.double()).float()


def csdr_metric(estimates: Tensor, references: Tensor, sample_rate: int) -> Tensor:
    """cSDR in dB (SiSEC 2018's SDR: the median over 1-s frames) of each estimate against the
    reference in the same position."""
    return csdr(estimates.double(), references.double(), frame=sample_rate).float()


def stoi_metric(estimates: Tensor, references: Tensor, sample_rate: int) -> Tensor:
    """Short-time objective intelligibility (Taal et al., 2011), 0 to 1, from ``pystoi``
    (which resamples to its 10 kHz internally)."""
    from pystoi import stoi

    return torch.tensor([stoi(ref.double().cpu().numpy(), est.double().cpu().numpy(), sample_rate)
                         for est, ref in zip(estimates, references)])


def pesq_metric(estimates: Tensor, references: Tensor, sample_rate: int) -> Tensor:
    """PESQ (ITU-T P.862) MOS-LQO from the ``pesq`` package: narrow-band at 8 kHz, wide-band at
    16 kHz. A reference without speech (no utterance found) scores NaN, left out of means."""
    import pesq

    if sample_rate not in (8000, 16000):
        raise SeparenaError(f"metric pesq: expected a sample rate of 8000 (narrow-band) or 16000 Hz (wide-band), "
                            f"got {sample_rate} Hz")
    mode = "nb" if sample_rate == 8000 else "wb"
    values = []
    for est, ref in zip(estimates, references):
        try:
            values.append(pesq.pesq(sample_rate, ref.double().cpu().numpy(), est.double().cpu().numpy(), mode))
        except pesq.NoUtterancesError:
            values.append(math.nan)
    return torch.tensor(values)
