"""separena's metrics, PIT losses and STFT against independent libraries, with stated tolerances.

Peers: torchmetrics and asteroid (SI-SDR, SI-SDRi, PIT), museval and fast_bss_eval (BSS Eval
SDR), torch.stft / torch.istft (STFT). A missing peer library makes these tests fail, not
skip: they are imported at the top of this module.

Cases: white noise (0.1 s and 30 s at 8 kHz) and eSpeak NG speech (0.1 s and 3 s, about one
utterance); 2 and 3 sources; loud, and quiet (every signal at -60 dBFS, the last source another
60 dB below the others); separena in float32 and float64. The estimates leak the other sources
and noise at fixed ratios and come in a known permutation: a batch of two, the identity and a
cyclic shift (for 30 s only the shift, to keep the file fast).

Peers see each signal at an RMS of 1000, in float64. Their epsilons are absolute (torchmetrics
``finfo.eps``, asteroid 1e-8) and bias quiet signals and high scores (asteroid: 5e-5 dB at 60
dB on unit-RMS signals), while SI-SDR and BSS Eval's SDR do not depend on the scale of any one
estimate or reference: so this compares separena on the quiet signals with what the peers
compute where their epsilons are negligible. For gradients: the loss of ``e`` equals the loss
of ``e / c``, so ``c * d loss / d e`` is the peer's gradient at ``e / c``.
"""

from __future__ import annotations

import functools
import io
import itertools
import subprocess
import wave
import zlib

import fast_bss_eval
import museval
import numpy as np
import pytest
import torch
import torchmetrics.functional as tmf
from asteroid.losses import PITLossWrapper, pairwise_neg_sisdr, singlesrc_neg_sisdr
from scipy.signal import resample_poly

import separena
from separena import SeparatorOutput
from separena.blocks import ISTFT, STFT
from separena.losses import pit_mask_l1, pit_si_sdr
from separena.metrics import (best_permutation, bss_eval_sources, csdr, pairwise_bss_sdr, pairwise_si_sdr, si_sdr,
                              si_sdri, usdr)

SAMPLE_RATE = 8000
DTYPES = [torch.float32, torch.float64]
# (n_fft, hop_length) of every shipped preset with a separena STFT (tests/test_short_inputs.py
# checks that this is the full list): a quarter and a half of the window.
SHIPPED_STFTS = [(128, 64), (256, 64), (256, 128), (1024, 256)]

# Tolerances, in dB for the metrics. Measured maxima over these cases (float32 / float64) are
# in docs/benchmark.md, "Checked against"; each tolerance is about 10x its measured maximum.
SI_SDR_TOL = {torch.float32: 3e-4, torch.float64: 1e-9}  # SI-SDR and SI-SDRi
BSS_SDR_TOL = {torch.float32: 5e-2, torch.float64: 5e-5}  # float32: a 512-tap Toeplitz solve
BSS_SOURCES_TOL = 1e-4  # SDR, SIR and SAR of the joint projection, float64 on both sides
MUSIC_SDR_TOL = {torch.float32: 3e-5, torch.float64: 1e-12}  # uSDR and cSDR: energy ratios, no solve
PIT_LOSS_TOL = {torch.float32: 1e-5, torch.float64: 1e-12}  # dB: the loss is a negative SI-SDR
PIT_GRAD_TOL = {torch.float32: 1e-5, torch.float64: 1e-8}  # relative to the largest gradient
MASK_L1_TOL = {torch.float32: 1e-5, torch.float64: 1e-12}  # relative: the value, the gradient (L1 norm)
STFT_TOL = {torch.float32: 1e-6, torch.float64: 1e-12}  # relative to the largest bin or sample
ROUND_TRIP_TOL = {torch.float32: 1e-5, torch.float64: 1e-12}  # absolute, unit-variance input


@functools.lru_cache(maxsize=1)
def _utterances() -> list[np.ndarray]:
    """Three eSpeak NG utterances (different voices) at 8 kHz, unit RMS."""
    lines = [("en-us+m3", "The birch canoe slid on the smooth planks of the quiet river."),
             ("en-gb+f3", "Glue the sheet to the dark blue background before it dries."),
             ("en-us+m7", "It is easy to tell the depth of a well by dropping a stone.")]
    out = []
    for voice, text in lines:
        wav = subprocess.run(["espeak-ng", "--stdout", "-v", voice, text], capture_output=True, check=True,
                             timeout=60).stdout
        with wave.open(io.BytesIO(wav)) as f:
            rate = f.getframerate()
            pcm = np.frombuffer(f.readframes(f.getnframes()), dtype=np.int16).astype(np.float64)
        assert rate == 22050, rate
        x = resample_poly(pcm, 160, 441)  # 22050 Hz -> 8000 Hz
        out.append(x / np.sqrt(np.mean(x**2)))
    return out


def _perms(n_src: int, seconds: float) -> list[list[int]]:
    """Per batch item, the reference each estimate copies: ``perms[b][k]``."""
    perms = [list(range(n_src)), [(k + 1) % n_src for k in range(n_src)]]
    return perms[1:] if seconds > 10 else perms


def _best(perms: list[list[int]]) -> list[list[int]]:
    """The permutation to find, as ``best_permutation`` gives it: the estimate for each reference."""
    return [[perm.index(r) for r in range(len(perm))] for perm in perms]


@functools.lru_cache(maxsize=None)
def _case(kind: str, n_src: int, seconds: float, quiet: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(estimates, references)``, both float64 ``[batch, n_src, time]``; see the module docstring."""
    n, perms = int(seconds * SAMPLE_RATE), _perms(n_src, seconds)
    gen = torch.Generator().manual_seed(zlib.crc32(f"{kind} {n_src} {seconds} {quiet}".encode()))
    if kind == "noise":
        refs = torch.randn(len(perms), n_src, n, generator=gen, dtype=torch.float64)
    else:  # each source an utterance, tiled and started at a random offset
        utts = _utterances()
        rows = []
        for _b in perms:
            row = []
            for s in range(n_src):
                u = utts[s % len(utts)]
                start = int(torch.randint(len(u), (1,), generator=gen))
                row.append(torch.from_numpy(np.resize(np.roll(u, -start), n)))
            rows.append(torch.stack(row))
        refs = torch.stack(rows)
    if quiet:
        refs = refs * 1e-3  # -60 dBFS
        refs[:, -1] *= 1e-3  # and the last source 60 dB below the others
    est = torch.empty_like(refs)
    for b, perm in enumerate(perms):
        for k, r in enumerate(perm):
            own, other = refs[b, r], refs[b, perm[(k + 1) % n_src]]
            noise = torch.randn(n, generator=gen, dtype=torch.float64)
            level = own.norm()
            # leakage at -12 dB and noise at -20 dB of the estimate's own source: SDRs near 11 dB
            est[b, k] = own + level * (0.25 * other / other.norm() + 0.1 * noise / noise.norm())
    return est, refs


def _matched(reordered: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """A peer's permutation read off its reordered estimates: ``perm[b, r]`` is the candidate
    (estimate) it put in position ``r`` (the order separena's ``best_permutation`` returns).

    Shapes:
        ``[batch, n_src, ...]`` x2 -> ``[batch, n_src]``.
    """
    flat = reordered.detach().flatten(2).double()
    dist = (flat.unsqueeze(2) - candidates.detach().flatten(2).double().unsqueeze(1)).abs().amax(-1)  # [B, r, k]
    assert (dist.amin(-1) == 0).all(), "the peer's reordered estimates are not a permutation of its inputs"
    return dist.argmin(-1)


def _as_asteroid(db: torch.Tensor) -> torch.Tensor:
    """SI-SDR in dB as asteroid reports it: it adds its EPS (1e-8) to the power ratio inside the
    log, which no rescaling removes (0.04 dB at -60 dB); applied to separena's value here."""
    return 10 * torch.log10(10 ** (db.double() / 10) + 1e-8)


PEER_RMS = 1000.0


def _peer_scale(x: torch.Tensor) -> torch.Tensor:
    """``c`` with ``x / c`` at :data:`PEER_RMS` per signal: there every energy in these cases
    is over 1e11 times the peers' absolute epsilons. Shapes: ``[..., time]`` -> ``[..., 1]``."""
    return x.double().square().mean(-1, keepdim=True).sqrt() / PEER_RMS


def _peer(x: torch.Tensor) -> torch.Tensor:
    """Each signal at the peers' level, float64 (see :func:`_peer_scale`)."""
    return x.double() / _peer_scale(x)


CASES = [pytest.param(kind, n_src, seconds, quiet, id=f"{kind}-{n_src}src-{seconds}s-{'quiet' if quiet else 'loud'}")
         for (kind, seconds), n_src, quiet in itertools.product(
             [("noise", 0.1), ("noise", 30.0), ("speech", 0.1), ("speech", 3.0)], [2, 3], [False, True])]
MAX: dict[str, float] = {}  # largest difference seen per quantity and dtype (printed with -s)


def _record(name: str, dtype: torch.dtype, diff: float, tol: float) -> None:
    key = f"{name} {str(dtype).removeprefix('torch.')}"
    MAX[key] = max(MAX.get(key, 0.0), diff)
    assert diff <= tol, f"{key}: difference {diff:.3g} above tolerance {tol:.3g}"


@pytest.fixture(scope="module", autouse=True)
def _report_maxima():
    yield
    print("\nmeasured maxima:", *(f"{k}: {v:.2g}" for k, v in sorted(MAX.items())), sep="\n  ")


@pytest.mark.parametrize(("kind", "n_src", "seconds", "quiet"), CASES)
def test_si_sdr_and_si_sdri_match_torchmetrics_and_asteroid(kind, n_src, seconds, quiet):
    est64, refs64 = _case(kind, n_src, seconds, quiet)
    mix64 = refs64.sum(1)
    peer_est, peer_refs, peer_mix = _peer(est64), _peer(refs64), _peer(mix64.unsqueeze(1).expand_as(refs64))
    # torchmetrics: every pair, then its PIT (maximum mean SI-SDR)
    shape = (est64.shape[0], n_src, n_src, est64.shape[-1])
    tm_pairwise = tmf.scale_invariant_signal_distortion_ratio(peer_est.unsqueeze(2).expand(shape),
                                                              peer_refs.unsqueeze(1).expand(shape),
                                                              zero_mean=True)  # [B, est, ref]
    tm_best, tm_perm = tmf.permutation_invariant_training(
        peer_est, peer_refs, tmf.scale_invariant_signal_distortion_ratio, eval_func="max", zero_mean=True)
    tm_base = tmf.scale_invariant_signal_distortion_ratio(peer_mix, peer_refs, zero_mean=True)  # [B, ref]
    # asteroid: the PIT wrapper's reordering, then single-source SI-SDR per reference
    _, reordered = PITLossWrapper(pairwise_neg_sisdr, pit_from="pw_mtx")(peer_est, peer_refs, return_est=True)
    ast_scores = torch.stack([-singlesrc_neg_sisdr(reordered[:, r], peer_refs[:, r]) for r in range(n_src)], 1)
    ast_base = torch.stack([-singlesrc_neg_sisdr(peer_mix[:, r], peer_refs[:, r]) for r in range(n_src)], 1)
    for dtype in DTYPES:
        est, refs, mix = est64.to(dtype), refs64.to(dtype), mix64.to(dtype)
        pairwise = pairwise_si_sdr(est, refs)
        scores, perm = best_permutation(pairwise)
        _record("SI-SDR vs torchmetrics", dtype, (scores.double() - tm_pairwise.gather(
            1, perm.unsqueeze(1)).squeeze(1)).abs().max().item(), SI_SDR_TOL[dtype])
        if dtype == torch.float64:  # float32 loses digits on unmatched, near-orthogonal pairs (-60 dB)
            _record("SI-SDR vs torchmetrics, all pairs", dtype, (pairwise - tm_pairwise).abs().max().item(),
                    SI_SDR_TOL[dtype])
        _record("SI-SDR vs asteroid", dtype, (_as_asteroid(scores) - ast_scores).abs().max().item(), SI_SDR_TOL[dtype])
        # the same permutation as torchmetrics and asteroid, and the one built into the case
        assert perm.tolist() == tm_perm.tolist() == _matched(reordered, peer_est).tolist()
        assert perm.tolist() == _best(_perms(n_src, seconds))
        improvement = si_sdri(est, refs, mix).double()
        _record("SI-SDRi vs torchmetrics", dtype,
                (improvement.mean(-1) - (tm_best - tm_base.mean(-1))).abs().max().item(), SI_SDR_TOL[dtype])
        baseline = si_sdr(mix.unsqueeze(1).expand_as(refs), refs)
        _record("SI-SDRi vs asteroid", dtype,
                ((_as_asteroid(improvement + baseline) - _as_asteroid(baseline)) - (ast_scores - ast_base)).abs().max()
                .item(), SI_SDR_TOL[dtype])


@pytest.mark.parametrize(("kind", "n_src", "seconds", "quiet"), CASES)
def test_bss_sdr_matches_museval_and_fast_bss_eval_with_the_same_permutation(kind, n_src, seconds, quiet):
    est64, refs64 = _case(kind, n_src, seconds, quiet)
    peer_est, peer_refs = _peer(est64), _peer(refs64)
    fast, fast_perm = fast_bss_eval.sdr(peer_refs, peer_est, filter_length=512, return_perm=True)
    # museval: numpy, [sources, time, channels], picks the best mean SIR. It costs 0.3 s (2
    # sources) to 1 s (3) an item whatever the length, so it sees the last item (the permuted
    # one) of every 2-source case and of the quiet 3-source ones.
    mus = None
    if n_src == 2 or quiet:
        mus = museval.metrics.bss_eval(peer_refs[-1].numpy()[..., None], peer_est[-1].numpy()[..., None],
                                       window=np.inf, compute_permutation=True, filters_len=512,
                                       bsseval_sources_version=True)
    for dtype in DTYPES:
        scores, perm = best_permutation(pairwise_bss_sdr(est64.to(dtype), refs64.to(dtype), filter_length=512))
        assert perm.tolist() == fast_perm.tolist() == _best(_perms(n_src, seconds))
        _record("BSS SDR vs fast_bss_eval", dtype, (scores.double() - fast).abs().max().item(), BSS_SDR_TOL[dtype])
        if mus is not None:
            assert perm[-1].tolist() == mus[4].ravel().tolist()  # perm[r]: the estimate for reference r
            _record("BSS SDR vs museval", dtype,
                    (scores[-1].double() - torch.tensor(mus[0].ravel())).abs().max().item(), BSS_SDR_TOL[dtype])


@pytest.mark.parametrize(("kind", "n_src", "seconds", "quiet"), [c for c in CASES if c.values[1] == 2 or c.values[3]])
def test_bss_eval_sources_matches_museval_sdr_sir_and_sar(kind, n_src, seconds, quiet):
    # As the suite metrics see them: estimates matched to their references first. museval
    # (numpy, its own solver) sees the last item, as above; the signals as they are here, since
    # separena brings each to unit energy itself (the quiet ones check that).
    est64, refs64 = _case(kind, n_src, seconds, quiet)
    est, refs = est64[-1][_best(_perms(n_src, seconds))[-1]], refs64[-1]
    ours = bss_eval_sources(est, refs)
    mus = museval.metrics.bss_eval(_peer(refs).numpy()[..., None], _peer(est).numpy()[..., None], window=np.inf,
                                   compute_permutation=False, filters_len=512, bsseval_sources_version=True)
    # 3 sources of 0.1 s: 3 x 512 delayed references span every signal of 800 + 511 samples, so
    # nothing is left as artifacts and SAR is infinite in exact arithmetic (museval: over 200 dB;
    # separena, whose solve is diagonally loaded, about 90).
    spans_all = n_src * 512 >= refs.shape[-1] + 511
    for name, value, peer in zip(("SDR", "SIR", "SAR"), ours, (mus[0], mus[2], mus[3])):
        peer = torch.from_numpy(peer.ravel())
        if name == "SAR" and spans_all:
            assert bool((value > 60).all() and (peer > 60).all()), (value, peer)  # far above any real score
            continue
        _record(f"BSS Eval sources {name} vs museval", torch.float64, (value - peer).abs().max().item(),
                BSS_SOURCES_TOL)
    assert (ours[0] - pairwise_bss_sdr(est[None], refs[None]).diagonal(dim1=-2, dim2=-1)[0]).abs().max() < 1e-3
    leaky = ours[1] < ours[2]  # the cases leak a source at -12 dB and add noise at -20 dB: SIR is the lower
    assert bool(leaky.all()), (ours[1], ours[2])


def _mdx_sdr(references: np.ndarray, estimates: np.ndarray) -> np.ndarray:
    """The Music Demixing Challenge 2021's SDR of each source, as its evaluation defines it
    (an absolute 1e-7 added to both energies). Shapes: ``[n_src, time]`` x2 -> ``[n_src]``."""
    delta = 1e-7
    num = np.sum(np.square(references), axis=-1) + delta
    den = np.sum(np.square(references - estimates), axis=-1) + delta
    return 10 * np.log10(num / den)


def _museval_csdr(references: np.ndarray, estimates: np.ndarray, frame: int) -> np.ndarray:
    """SiSEC 2018's SDR of each source: museval v4 per frame, the median over frames.
    Shapes: ``[n_src, time]`` x2 -> ``[n_src]``."""
    framewise, *_ = museval.evaluate(references[..., None], estimates[..., None], win=frame, hop=frame)
    with np.errstate(all="ignore"):
        return np.nanmedian(framewise, axis=1)


@pytest.mark.parametrize(("kind", "n_src", "seconds", "quiet"), CASES)
def test_usdr_and_csdr_match_mdx_and_museval_v4(kind, n_src, seconds, quiet):
    # Fixed roles (music): estimate k against reference k, the permuted item included (low
    # scores). Both scores are invariant to scaling estimate and reference together only, so
    # the peers get both at the reference's scale. museval costs about 1 s an item: it sees
    # the last item of the 2-source and the quiet cases.
    est64, refs64 = _case(kind, n_src, seconds, quiet)
    scale = _peer_scale(refs64)
    peer_est, peer_refs = (est64 / scale).numpy(), (refs64 / scale).numpy()
    frame = SAMPLE_RATE // 2  # 0.1 s is shorter than a frame: one frame of the whole input
    mdx = np.stack([_mdx_sdr(r, e) for r, e in zip(peer_refs, peer_est)])
    mus = _museval_csdr(peer_refs[-1], peer_est[-1], frame) if n_src == 2 or quiet else None
    for dtype in DTYPES:
        _record("uSDR vs MDX 2021", dtype, np.abs(usdr(est64.to(dtype), refs64.to(dtype)).double().numpy()
                                                  - mdx).max(), MUSIC_SDR_TOL[dtype])
        if mus is not None:
            ours = csdr(est64[-1].to(dtype), refs64[-1].to(dtype), frame).double().numpy()
            _record("cSDR vs museval v4", dtype, np.abs(ours - mus).max(), MUSIC_SDR_TOL[dtype])


def test_csdr_leaves_out_the_frames_museval_leaves_out():
    # A silent reference frame, a silent estimate frame (each drops that frame for every
    # source), a partial last frame, and a source whose frames are all dropped but one.
    est64, refs64 = _case("speech", 3, 3.0, False)
    est, refs = est64[0].clone(), refs64[0].clone()
    frame = SAMPLE_RATE // 4
    refs[0, frame: 2 * frame] = 0
    est[2, 3 * frame: 4 * frame] = 0
    refs, est = refs[:, : 7 * frame + 123], est[:, : 7 * frame + 123]
    mus = _museval_csdr(refs.numpy(), est.numpy(), frame)
    ours = csdr(est, refs, frame)
    assert np.abs(ours.numpy() - mus).max() < MUSIC_SDR_TOL[torch.float64]
    for k in range(7):  # every whole frame silent in one signal: nothing left to score
        (refs if k % 2 else est)[1, k * frame: (k + 1) * frame] = 0
    assert csdr(est, refs, frame).isnan().all()
    assert np.isnan(_museval_csdr(refs.numpy(), est.numpy(), frame)).all()


@pytest.mark.parametrize(("kind", "n_src", "seconds", "quiet"), CASES)
def test_pit_si_sdr_matches_asteroid_pit_wrapper_values_gradients_and_permutations(kind, n_src, seconds, quiet):
    est64, refs64 = _case(kind, n_src, seconds, quiet)
    scale = _peer_scale(est64)  # c: the peer sees e / c
    peer_est = (est64 / scale).requires_grad_(True)
    peer_loss, reordered = PITLossWrapper(pairwise_neg_sisdr, pit_from="pw_mtx")(peer_est, _peer(refs64),
                                                                                return_est=True)
    (peer_grad,) = torch.autograd.grad(peer_loss, peer_est)
    for dtype in DTYPES:
        est = est64.to(dtype).requires_grad_(True)
        refs = refs64.to(dtype)
        loss = pit_si_sdr(SeparatorOutput(estimates=est), refs)
        (grad,) = torch.autograd.grad(loss, est)
        scores, perm = best_permutation(pairwise_si_sdr(est.detach(), refs))  # what pit_si_sdr takes
        assert loss.item() == -scores.mean().item()
        _record("pit_si_sdr vs PITLossWrapper", dtype, abs(-_as_asteroid(scores).mean().item() - peer_loss.item()),
                PIT_LOSS_TOL[dtype])
        grad = grad.double() * scale
        _record("pit_si_sdr gradient vs PITLossWrapper (relative)", dtype,
                ((grad - peer_grad).abs().max() / peer_grad.abs().max()).item(), PIT_GRAD_TOL[dtype])
        assert perm.tolist() == _matched(reordered, peer_est).tolist()


@pytest.mark.parametrize(("kind", "n_src", "seconds", "quiet"),
                         [c for c in CASES if c.values[0] == "speech"])  # the noise cases add nothing here
def test_pit_mask_l1_matches_asteroid_pit_wrapper_values_gradients_and_permutations(kind, n_src, seconds, quiet):
    est64, refs64 = _case(kind, n_src, seconds, quiet)
    model = separena.create_model("mask-inference", n_src=n_src, hidden_size=8, num_layers=1).double()
    n_fft, hop = model.encoder.n_fft, model.encoder.hop_length
    assert model.encoder.end_padding(refs64.shape[-1]) == 0  # so plain torch.stft frames the same samples
    window = torch.hann_window(n_fft, dtype=torch.float64)

    def spec(x: torch.Tensor) -> torch.Tensor:  # the peer's STFT, [..., time] -> [..., frames, freq]
        flat = torch.stft(x.reshape(-1, x.shape[-1]), n_fft, hop, window=window, center=True, return_complex=True)
        return flat.transpose(-1, -2).reshape(*x.shape[:-1], -1, n_fft // 2 + 1)

    src_spec, mix_spec = spec(refs64), spec(refs64.sum(1))
    target = (src_spec.abs() * torch.cos(src_spec.angle() - mix_spec.angle().unsqueeze(1))).clamp_min(0)
    # masks: each source's ideal ratio mask, in the estimates' permutation, plus noise
    ratio = src_spec.abs() / src_spec.abs().sum(1, keepdim=True).clamp_min(1e-30)
    gen = torch.Generator().manual_seed(0)
    perms = _perms(n_src, seconds)
    masks64 = torch.stack([ratio[b, perm] for b, perm in enumerate(perms)])
    masks64 = masks64 + 0.05 * torch.rand(ratio.shape, generator=gen, dtype=torch.float64)

    def pairwise_l1(est: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:  # [B, est, ref]
        return (est.unsqueeze(2) - tgt.unsqueeze(1)).abs().mean(dim=(-1, -2))

    def l1(est: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:  # [B], one permutation, mean over sources
        return (est - tgt).abs().mean(dim=(1, 2, 3))

    peers = {}
    for name, wrapper in {"pw_mtx": PITLossWrapper(pairwise_l1, pit_from="pw_mtx"),
                          "perm_avg": PITLossWrapper(l1, pit_from="perm_avg")}.items():
        peer_masks = masks64.clone().requires_grad_(True)
        peer_loss, reordered = wrapper(peer_masks * mix_spec.abs().unsqueeze(1), target, return_est=True)
        peers[name] = (peer_loss, torch.autograd.grad(peer_loss, peer_masks)[0],
                       _matched(reordered, peer_masks * mix_spec.abs().unsqueeze(1)))
    for dtype in DTYPES:
        model = model.to(dtype)
        masks = masks64.to(dtype).requires_grad_(True)
        loss = pit_mask_l1(SeparatorOutput(estimates=torch.zeros(0), masks=masks), refs64.to(dtype), model)
        (grad,) = torch.autograd.grad(loss, masks)
        pairwise = pairwise_l1(masks.detach().double() * mix_spec.abs().unsqueeze(1), target)
        _, perm = best_permutation(-pairwise)  # the permutation pit_mask_l1 takes (permute_sources)
        assert perm.tolist() == _best(perms)
        for name, (peer_loss, peer_grad, peer_perm) in peers.items():
            _record(f"pit_mask_l1 vs PITLossWrapper {name} (relative)", dtype, abs(loss.item() / peer_loss.item() - 1),
                    MASK_L1_TOL[dtype])
            # in L1 norm: a float32 rounding can flip the sign of |est - target|'s slope at a bin
            _record(f"pit_mask_l1 gradient vs PITLossWrapper {name} (relative L1)", dtype,
                    ((grad.double() - peer_grad).abs().sum() / peer_grad.abs().sum()).item(), MASK_L1_TOL[dtype])
            assert perm.tolist() == peer_perm.tolist()


def _numpy_stft(wav: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """A from-scratch STFT of the documented framing: zeros appended to a whole number of hops
    when more than ``n_fft // 4`` samples follow the last frame centre, reflect padding by
    ``n_fft // 2``, periodic Hann window. Shapes: ``[batch, time] -> [batch, frames, freq]``."""
    rest = wav.shape[-1] % hop
    wav = np.pad(wav, ((0, 0), (0, hop - rest if rest > n_fft // 4 else 0)))
    wav = np.pad(wav, ((0, 0), (n_fft // 2, n_fft // 2)), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(wav, n_fft, axis=-1)[:, ::hop]
    return np.fft.rfft(frames * (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)), axis=-1)


@pytest.mark.parametrize(("n_fft", "hop"), SHIPPED_STFTS)
@pytest.mark.parametrize("seconds", [0.1, 30.0])
@pytest.mark.parametrize("dtype", DTYPES)
def test_stft_and_istft_match_torch_and_numpy(n_fft, hop, seconds, dtype):
    gen = torch.Generator().manual_seed(n_fft + hop)
    stft, istft = STFT(n_fft, hop).to(dtype), ISTFT(n_fft, hop).to(dtype)
    window = torch.hann_window(n_fft, dtype=dtype)
    n = int(seconds * SAMPLE_RATE)
    # a whole number of hops (the segments training uses), then the worst tail: hop - 1 samples
    # past the last frame centre, which the end padding covers for hops above n_fft / 4
    for length in (n // hop * hop, n // hop * hop + hop - 1):
        wav = torch.randn(2, length, generator=gen, dtype=dtype)
        ours, want = stft(wav), _numpy_stft(wav.double().numpy(), n_fft, hop)
        assert ours.shape == want.shape
        _record("STFT vs numpy framing (relative)", dtype,
                np.abs(ours.numpy() - want).max() / np.abs(want).max(), STFT_TOL[dtype])
        theirs = torch.stft(wav, n_fft, hop, window=window, center=True, return_complex=True).transpose(-1, -2)
        same = (length - n_fft // 2) // hop + 1  # frames ending before any end padding: the same samples
        _record("STFT vs torch.stft (relative)", dtype,
                ((ours[:, :same] - theirs[:, :same]).abs().max() / theirs.abs().max()).item(), STFT_TOL[dtype])
        # the inverse of any spectrogram, modified or not, is torch.istft's
        spec = torch.randn(ours.shape, generator=gen, dtype=ours.dtype)
        theirs_inv = torch.istft(spec.transpose(-1, -2), n_fft, hop, window=window, center=True, length=length)
        _record("iSTFT vs torch.istft (relative)", dtype,
                ((istft(spec, length) - theirs_inv).abs().max() / theirs_inv.abs().max()).item(), STFT_TOL[dtype])
        out = istft(ours, length)
        assert out.shape == wav.shape
        _record("iSTFT(STFT(x)) - x", dtype, (out - wav).abs().max().item(), ROUND_TRIP_TOL[dtype])
