"""nussl's classic (non-trainable) separators for mono input, as separena Separators.

References:
    Fitzgerald, "Harmonic/percussive separation using median filtering", DAFx 2010 (HPSS).
    Rafii & Pardo, "Music/voice separation using the similarity matrix", ISMIR 2012 (REPET-SIM).
    Huang et al., "Singing-voice separation from monaural recordings using robust principal
    component analysis", ICASSP 2012 (RPCA).
    Spiertz & Gnann, "Source-filter based clustering for monaural blind source separation",
    DAFx 2009 (NMF components clustered by timbre; nussl's TimbreClustering).
    Manilow, Seetharaman & Pardo, nussl, ISMIR 2018 (the implementations; MIT licence).

Each mixture of the batch becomes a ``nussl.AudioSignal``, the nussl separator runs on it,
and its estimates come back as waveforms (no gradient: these are benchmark baselines).
How the outputs map to sources:

- ``nussl-hpss``: ``[harmonic, percussive]`` (``n_src`` must be 2).
- ``nussl-repet-sim``: ``[background (repeating), foreground]`` (``n_src`` must be 2).
- ``nussl-rpca``: ``[background (low-rank), foreground (sparse)]`` (``n_src`` must be 2).
- ``nussl-timbre-clustering``: ``n_src`` clusters of NMF components, in arbitrary order.

The benchmark scores with the best permutation per mixture, so the order matters only
when reading the estimates by hand. An all-zero mixture gives all-zero estimates without
calling nussl (RPCA's SVD does not converge on silence).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import Tensor

from separena import SeparenaError, Separator, SeparatorOutput
from separena.model import check_length, check_mix

from .audio_signal import from_audio_signal, numpy_bool_alias, to_audio_signal

__all__ = ["ClassicSeparator", "hpss", "repet_sim", "rpca", "timbre_clustering"]

MaskType = Literal["soft", "binary"]


class ClassicSeparator(Separator):
    """Runs a nussl separator on each mixture of the batch.

    Args:
        make: ``make(signal) -> nussl separator``; calling the separator returns its estimates.
        n_src: number of estimates the separator returns.
        sample_rate: Hz.
        n_fft: STFT window length nussl uses.
        hop_length: STFT hop.
        name: architecture name, for error messages.

    Shapes:
        mix ``[batch, time]`` -> estimates ``[batch, n_src, time]``.
    """

    def __init__(self, make: Callable[[Any], Any], n_src: int, sample_rate: int, n_fft: int, hop_length: int,
                 name: str) -> None:
        super().__init__(n_src=n_src, sample_rate=sample_rate)
        self.make, self.n_fft, self.hop_length, self.name = make, n_fft, hop_length, name

    def extra_repr(self) -> str:
        return f"{self.name}, n_src={self.n_src}, n_fft={self.n_fft}, hop_length={self.hop_length}"

    @torch.no_grad()
    def forward(self, mix: Tensor) -> SeparatorOutput:
        check_mix(mix)
        check_length(mix.shape[-1], self.n_fft, self.name, f"nussl's STFT window of {self.n_fft} samples",
                     self.sample_rate)
        items = [self._separate(item) for item in mix]
        return SeparatorOutput(estimates=torch.stack(items).to(device=mix.device, dtype=mix.dtype))

    def _separate(self, wav: Tensor) -> Tensor:
        """``[time] -> [n_src, time]``."""
        if not wav.any():
            return wav.new_zeros(self.n_src, wav.shape[-1]).cpu()
        signal = to_audio_signal(wav, self.sample_rate, self.n_fft, self.hop_length)
        with numpy_bool_alias():
            estimates = self.make(signal)()
        if len(estimates) != self.n_src:
            raise SeparenaError(f"{self.name}: nussl returned {len(estimates)} estimates; expected {self.n_src}")
        out = torch.stack([from_audio_signal(e)[0] for e in estimates])  # [S, T']
        length = wav.shape[-1]
        return torch.nn.functional.pad(out, (0, max(0, length - out.shape[-1])))[:, :length]


def _two_sources(name: str, n_src: int, roles: str) -> None:
    if n_src != 2:
        raise SeparenaError(f"{name}: n_src is fixed by the method ({roles}); expected 2, got {n_src}")


def hpss(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_fft: int = 256,
    hop_length: int = 64,
    kernel_size: int = 31,
    mask_type: MaskType = "soft",
) -> ClassicSeparator:
    """nussl's ``HPSS`` (median filtering across time and frequency).

    Args:
        n_src: must be 2: ``[harmonic, percussive]``.
        sample_rate: Hz.
        n_fft: STFT window length.
        hop_length: STFT hop.
        kernel_size: median filter length (bins and frames).
        mask_type: ``"soft"`` or ``"binary"`` masks.
    """
    from nussl.separation.primitive import HPSS

    _two_sources("nussl-hpss", n_src, "harmonic, percussive")
    return ClassicSeparator(lambda s: HPSS(s, kernel_size=kernel_size, mask_type=mask_type), n_src, sample_rate,
                            n_fft, hop_length, "nussl-hpss")


def repet_sim(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_fft: int = 256,
    hop_length: int = 64,
    similarity_threshold: float = 0.0,
    min_distance_seconds: float = 1.0,
    max_repeating_frames: int = 100,
    high_pass_cutoff: float = 100.0,
    mask_type: MaskType = "soft",
) -> ClassicSeparator:
    """nussl's ``RepetSim`` (repeating background from similar frames).

    Args:
        n_src: must be 2: ``[background, foreground]``.
        sample_rate: Hz.
        n_fft: STFT window length.
        hop_length: STFT hop.
        similarity_threshold: minimum cosine similarity for a frame to count as a repetition.
        min_distance_seconds: how far apart two similar frames must be (nussl's
            ``min_distance_between_frames``); mixtures shorter than this find no repetition and go
            entirely to the background.
        max_repeating_frames: most similar frames whose median models the background.
        high_pass_cutoff: Hz; bins below it go to the background.
        mask_type: ``"soft"`` or ``"binary"`` masks.
    """
    from nussl.separation.primitive import RepetSim

    _two_sources("nussl-repet-sim", n_src, "background, foreground")
    return ClassicSeparator(
        lambda s: RepetSim(s, similarity_threshold=similarity_threshold,
                           min_distance_between_frames=min_distance_seconds,
                           max_repeating_frames=max_repeating_frames,
                           high_pass_cutoff=high_pass_cutoff, mask_type=mask_type),
        n_src, sample_rate, n_fft, hop_length, "nussl-repet-sim")


def rpca(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_fft: int = 256,
    hop_length: int = 64,
    num_iterations: int = 100,
    high_pass_cutoff: float = 100.0,
) -> ClassicSeparator:
    """nussl's ``RPCA`` (low-rank background + sparse foreground of the magnitude).

    Its masks are binary (``gain * |sparse| <= |low rank|``) whatever nussl's ``mask_type``, so
    that argument is not exposed.

    Args:
        n_src: must be 2: ``[background, foreground]``.
        sample_rate: Hz.
        n_fft: STFT window length.
        hop_length: STFT hop.
        num_iterations: iterations of the RPCA solver.
        high_pass_cutoff: Hz; bins below it go to the background.
    """
    from nussl.separation.factorization import RPCA

    _two_sources("nussl-rpca", n_src, "background, foreground")
    return ClassicSeparator(
        lambda s: RPCA(s, high_pass_cutoff=high_pass_cutoff, num_iterations=num_iterations),
        n_src, sample_rate, n_fft, hop_length, "nussl-rpca")


def timbre_clustering(
    n_src: int = 2,
    sample_rate: int = 8000,
    n_fft: int = 256,
    hop_length: int = 64,
    n_components: int = 16,
    n_mfcc: int = 13,
    mask_type: MaskType = "soft",
) -> ClassicSeparator:
    """nussl's ``TimbreClustering``: NMF of the magnitude, components clustered by MFCCs of their
    spectral templates into ``n_src`` groups.

    NMF and k-means start from ``random_state=0``, so the result is a function of the input.

    Args:
        n_src: number of sources (clusters).
        sample_rate: Hz.
        n_fft: STFT window length.
        hop_length: STFT hop.
        n_components: NMF components.
        n_mfcc: MFCCs describing each component's template.
        mask_type: ``"soft"`` or ``"binary"`` masks.
    """
    from nussl.separation.primitive import TimbreClustering

    return ClassicSeparator(
        lambda s: TimbreClustering(s, n_src, n_components, n_mfcc=n_mfcc, mask_type=mask_type,
                                   nmf_kwargs={"random_state": 0}, random_state=0),
        n_src, sample_rate, n_fft, hop_length, "nussl-timbre-clustering")
