"""Separating long mixtures chunk by chunk (cross-fades, speaker order and offsets across
chunks), and multichannel mixtures channel by channel (speaker order across channels)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from separena import SeparenaError, Separator, SeparatorOutput, separate_channels, separate_in_chunks
from separena.metrics import matched_si_sdr, si_sdr
from separena.model import chunk_starts

RATE = 8000


class Pointwise(Separator):
    """Each source a fixed fraction of the mixture: what a chunk gives does not depend on the chunk."""

    def __init__(self) -> None:
        super().__init__(n_src=2, sample_rate=RATE)

    def forward(self, mix: Tensor) -> SeparatorOutput:
        return SeparatorOutput(estimates=torch.stack([0.3 * mix, 0.7 * mix], 1))


class ShuffledBands(Separator):
    """Splits the mixture at 1 kHz, then does what a PIT-trained model may do on each call:
    gives the sources in a random order (with ``per_item``, one for each batch item) and adds a
    random offset to each."""

    def __init__(self, seed: int = 0, per_item: bool = False) -> None:
        super().__init__(n_src=2, sample_rate=RATE)
        self.generator = torch.Generator().manual_seed(seed)
        self.per_item = per_item
        self.calls = 0

    def forward(self, mix: Tensor) -> SeparatorOutput:
        self.calls += 1
        spec = torch.fft.rfft(mix)
        low = torch.fft.rfftfreq(mix.shape[-1], 1 / RATE) < 1000
        bands = torch.stack([torch.fft.irfft(spec * low, mix.shape[-1]),
                             torch.fft.irfft(spec * ~low, mix.shape[-1])], 1)  # [B, 2, T]
        orders = torch.stack([torch.randperm(2, generator=self.generator)
                              for _ in range(mix.shape[0] if self.per_item else 1)]).expand(mix.shape[0], 2)
        offset = torch.randn(mix.shape[0], 2, 1, generator=self.generator)
        return SeparatorOutput(estimates=bands.gather(1, orders.unsqueeze(-1).expand_as(bands)) + offset)


def _two_bands(seconds: float) -> tuple[Tensor, Tensor]:
    """``(mix [1, T], sources [1, 2, T])``: a low and a high band source, each pausing now and then."""
    t = torch.arange(int(seconds * RATE)) / RATE
    gate = lambda period: (torch.sin(2 * torch.pi * t / period) > -0.5).float()  # noqa: E731
    low = (torch.sin(2 * torch.pi * 220 * t) + 0.5 * torch.sin(2 * torch.pi * 470 * t)) * gate(1.7)
    high = 0.5 * torch.sin(2 * torch.pi * 2500 * t + 3 * torch.sin(2 * torch.pi * 3 * t)) * gate(2.3)
    sources = torch.stack([low, high]).unsqueeze(0)
    return sources.sum(1), sources


def test_chunks_put_the_sources_in_one_order_and_drop_their_offsets() -> None:
    mix, sources = _two_bands(20.0)
    model = ShuffledBands()
    estimates = separate_in_chunks(model, mix, chunk=2 * RATE, overlap=RATE // 2)
    assert model.calls == 13  # ceil((20 - 2) / 1.5) + 1 chunks
    assert estimates.shape == sources.shape
    assert si_sdr(estimates, sources).min() > 25.0  # dB: the band split itself is not perfect at the chunk edges


def test_without_the_alignment_the_shuffled_chunks_are_not_separated() -> None:
    """The test above can fail: sources with fixed roles keep each chunk's own order."""
    mix, sources = _two_bands(20.0)
    estimates = separate_in_chunks(ShuffledBands(), mix, chunk=2 * RATE, overlap=RATE // 2,
                                   permutation_invariant=False)
    swapped = si_sdr(estimates, sources.flip(1))
    assert si_sdr(estimates, sources).max() < 5.0 and swapped.max() < 5.0


@settings(max_examples=40, deadline=None)
@given(length=st.integers(1, 12_000), chunk=st.integers(1000, 4000), fraction=st.floats(0.05, 0.75),
       batch=st.integers(1, 2))
def test_a_pointwise_model_is_reassembled_sample_for_sample(length: int, chunk: int, fraction: float,
                                                            batch: int) -> None:
    """Windows normalised by their sum: only each chunk's removed offset differs from one pass."""
    overlap = max(1, int(fraction * chunk))
    mix = torch.randn(batch, length, generator=torch.Generator().manual_seed(length))
    estimates = separate_in_chunks(Pointwise(), mix, chunk, overlap)
    whole = Pointwise()(mix).estimates
    assert estimates.shape == whole.shape
    if length <= chunk:  # one pass, centered
        torch.testing.assert_close(estimates, whole - whole.mean(-1, keepdim=True))
    else:  # a chunk's offset of white noise is about 1/sqrt(chunk) of it: 30 dB down or more
        assert si_sdr(estimates, whole).min() > 20.0


@pytest.mark.parametrize("overlap", [0, -1, 1000, 1500])
def test_overlap_must_be_inside_the_chunk(overlap: int) -> None:
    with pytest.raises(SeparenaError, match=rf"^overlap: expected 0 < overlap < chunk = 1000 samples, got {overlap}$"):
        separate_in_chunks(Pointwise(), torch.randn(1, 3000), 1000, overlap)


PAN = torch.tensor([[1.0, 0.3], [0.2, 1.0]])  # [source, channel]: the low band left, the high band right


@pytest.mark.parametrize("chunk", [0, 2 * RATE])
def test_channels_are_separated_one_by_one_and_keep_one_speaker_order(chunk: int) -> None:
    _, sources = _two_bands(12.0)
    images = sources[0, :, None, :] * PAN[..., None]  # [source, channel, time]
    model = ShuffledBands(seed=0, per_item=True)
    estimates = separate_channels(model, images.sum(0), chunk, RATE // 2)
    assert estimates.shape == images.shape
    assert si_sdr(estimates, images).min() > 15.0  # each source, each channel (the band split leaks a little)
    levels = estimates.std(-1) / estimates.std(-1).amax(-1, keepdim=True)
    torch.testing.assert_close(levels, PAN / PAN.amax(-1, keepdim=True), atol=0.02, rtol=0)  # the image kept


def test_without_alignment_the_channels_disagree_on_the_speakers() -> None:
    """The test above can fail: with fixed roles each channel keeps its own order (under seed 0
    the model's first call gives the two channels opposite orders)."""
    _, sources = _two_bands(12.0)
    images = sources[0, :, None, :] * PAN[..., None]
    estimates = separate_channels(ShuffledBands(seed=0, per_item=True), images.sum(0), permutation_invariant=False)
    assert si_sdr(estimates, images).min() < 0.0


@pytest.mark.parametrize("max_lag", [None, 0])
def test_channels_that_hear_a_source_at_different_times_are_matched_at_their_lag(max_lag: int | None) -> None:
    """Channel 2 is channel 1 two samples later (0.25 ms): the high band's inner product at lag 0
    turns negative (2500 Hz, 225 degrees) and outweighs the low band's, so matching at lag 0
    swaps the speakers of channel 2; matching at the cross-correlation's peak does not."""
    _, sources = _two_bands(6.0)
    sources = sources[0] * torch.tensor([[1.0], [4.0]])  # the high band louder
    images = torch.stack([sources, torch.roll(sources, 2, -1)], 1)  # [source, channel, time]
    estimates = separate_channels(ShuffledBands(seed=0, per_item=True), images.sum(0), max_lag=max_lag)
    if max_lag is None:  # the default: up to 2 ms either way
        assert si_sdr(estimates, images).min() > 15.0
    else:
        assert si_sdr(estimates[:, 1], images[:, 1]).max() < 0.0  # channel 2's speakers swapped


class WrongAtTheStartOnTheRight(ShuffledBands):
    """ShuffledBands, except that on the second channel (batch item) the first ``head``
    samples of every call come in the other order: a model that changes its mind, where a
    chunk meets the one before, on one channel."""

    def __init__(self, seed: int, head: int) -> None:
        super().__init__(seed=seed, per_item=True)
        self.head = head

    def forward(self, mix: Tensor) -> SeparatorOutput:
        estimates = super().forward(mix).estimates
        estimates = estimates - estimates.mean(-1, keepdim=True)  # (offsets would travel with the swap)
        estimates[1, :, :self.head] = estimates[1, :, :self.head].flip(0)
        return SeparatorOutput(estimates=estimates)


@pytest.mark.parametrize("seed", range(3))
def test_one_channel_misled_where_chunks_meet_keeps_the_image_whole(seed: int) -> None:
    """The right channel alone would take each chunk's speakers in the wrong order (its shared
    part says so). Matched to the left channel within each chunk, and ordered together with it
    across chunks, every chunk keeps one speaker per source in both channels: the stereo image
    is whole, scored chunk by chunk past the model's wrong start. (Aligning each channel's
    chunks on that channel alone, then matching the channels once, splits it: a chunk's
    right channel holds the other speaker.)"""
    _, sources = _two_bands(9.0)
    images = sources[0, :, None, :] * PAN[..., None]  # [source, channel, time]
    model = WrongAtTheStartOnTheRight(seed, head=RATE // 2)
    estimates = separate_channels(model, images.sum(0), 2 * RATE, RATE // 2)
    heard = (images.abs().sum(1) > 0).all(0)  # both sources
    starts = chunk_starts(images.shape[-1], 2 * RATE, RATE // 2)
    for start, end in zip(starts, [*starts[1:], images.shape[-1]]):
        part = slice(start + RATE // 2, end)  # past the start where the right channel's model was wrong
        est, ref = (x[..., part][..., heard[part]].flatten(1).unsqueeze(0) for x in (estimates, images))
        assert matched_si_sdr(est, ref)[0].min() > 15.0, f"chunk at {start / RATE:.1f} s"


def test_channels_are_matched_on_their_loudest_stretch() -> None:
    from separena.model import _loudest_stretch

    signal = torch.zeros(100)
    signal[50:60] = 1.0
    assert _loudest_stretch(signal, 10) == slice(50, 60)
    assert _loudest_stretch(signal, 200) == slice(None)


@pytest.mark.parametrize("chunk", [0, 2 * RATE])
def test_on_chunk_is_called_once_per_chunk(chunk: int) -> None:

    calls = []
    mix = torch.randn(2, 7 * RATE)
    separate_channels(Pointwise(), mix, chunk, RATE // 2, on_chunk=lambda: calls.append(1))
    assert len(calls) == (len(chunk_starts(7 * RATE, chunk, RATE // 2)) if chunk else 1) == (5 if chunk else 1)


@pytest.mark.parametrize("rate", [RATE, 22050, 44100])
def test_audio_at_any_rate_comes_back_at_that_rate_beside_the_input(rate: int) -> None:
    """Sources at the input's rate and length: a band-limited input (below the model's Nyquist)
    comes back separated; at the model's rate nothing is resampled."""
    from separena import separate_audio

    t = torch.arange(int(5.3 * rate)) / rate
    low, high = torch.sin(2 * torch.pi * 220 * t), 0.5 * torch.sin(2 * torch.pi * 2500 * t)
    stereo = torch.stack([low + high, 0.5 * low + high])  # [channels, time]
    calls = []
    got = separate_audio(ShuffledBands(), stereo, rate, chunk_seconds=2.0, overlap=0.25,
                         on_chunk=lambda: calls.append(1))
    assert got.shape == (2, 2, stereo.shape[-1])
    assert len(calls) == len(chunk_starts(round(stereo.shape[-1] * RATE / rate), 2 * RATE, RATE // 2))
    if got[0, 0].abs().mean() < got[1, 0].abs().mean():  # the speakers' order is free
        got = got.flip(0)
    inner = slice(rate // 10, -rate // 10)  # the resamplers' edges
    for source, expected in zip(got, [torch.stack([low, 0.5 * low]), torch.stack([high, high])]):
        assert si_sdr(source[..., inner], expected[..., inner]).min() > 20
    mono = separate_audio(Pointwise(), stereo[0], rate, chunk_seconds=0)
    assert mono.shape == (2, stereo.shape[-1])
    if rate == RATE:
        assert torch.allclose(mono, torch.stack([0.3 * stereo[0], 0.7 * stereo[0]]), atol=1e-6)
    assert si_sdr(mono[1, inner], stereo[0, inner]) > 30
