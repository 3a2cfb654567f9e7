"""Streaming: each block's ``step``/``flush`` against its ``forward``, and the StreamingSeparator.

The contract kit's ``check_streaming`` runs the whole models (every architecture, its causal
variants included); here are the blocks on inputs that vary, the driver's errors, the latency
it promises and the published causal weights.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import separena
from separena import SeparenaError, StreamingSeparator, separate_streaming
from separena.blocks import (
    ISTFT, STFT, CumulativeLayerNorm, LearnedDecoder, LearnedEncoder, RecurrentStack, TemporalConvNet,
)



@pytest.fixture(autouse=True)
def _float64():
    """Exactness is the point: float64, compared to 1e-10 or closer."""
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def _pieces(x: torch.Tensor, sizes: list[int]) -> list[torch.Tensor]:
    """``x`` ``[..., time]`` cut into consecutive pieces of the given sizes (cycled) along time."""
    out, start = [], 0
    for size in itertools.cycle(sizes):
        if start >= x.shape[-1]:
            return out
        out.append(x[..., start:start + size])
        start += size
    raise AssertionError  # pragma: no cover


def _stream_frames(block, wav: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    state, frames = None, []
    for piece in _pieces(wav, sizes):
        out, state = block.step(piece, state)
        frames.append(out)
    return torch.cat([*frames, block.flush(state)], 1)


def _stream_samples(block, frames: torch.Tensor, sizes: list[int], length: int) -> torch.Tensor:
    state, samples = None, []
    pieces = _pieces(frames.transpose(1, -1), sizes)  # cut along frames
    for piece in pieces[:-1]:
        out, state = block.step(piece.transpose(1, -1), state)
        samples.append(out)
    return torch.cat([*samples, block.flush(pieces[-1].transpose(1, -1), state, length)], -1)


sizes = st.lists(st.integers(1, 90), min_size=1, max_size=5)


@settings(max_examples=60, deadline=None)
@given(n_fft=st.sampled_from([4, 8, 16, 32]), hop=st.integers(1, 16), extra=st.integers(0, 200), sizes=sizes)
def test_stft_and_istft_streamed_equal_forward(n_fft, hop, extra, sizes):
    hop = min(hop, n_fft // 2)
    stft, istft = STFT(n_fft, hop), ISTFT(n_fft, hop)
    wav = torch.randn(2, stft.min_length + extra, generator=torch.Generator().manual_seed(extra))
    whole = stft(wav)
    frames = _stream_frames(stft, wav, sizes)
    assert frames.shape == whole.shape
    torch.testing.assert_close(frames, whole, atol=1e-12, rtol=0)
    samples = _stream_samples(istft, whole, sizes, wav.shape[-1])
    torch.testing.assert_close(samples, istft(whole, wav.shape[-1]), atol=1e-12, rtol=0)


def test_stft_flush_refuses_a_stream_shorter_than_forward_accepts():
    stft = STFT(16, 4)
    _, state = stft.step(torch.randn(1, stft.min_length - 1), None)
    with pytest.raises(SeparenaError, match="too short"):
        stft.flush(state)


@settings(max_examples=60, deadline=None)
@given(length=st.integers(2, 16), stride=st.integers(1, 16), extra=st.integers(0, 150), sizes=sizes)
def test_learned_filterbank_streamed_equals_forward(length, stride, extra, sizes):
    stride = min(stride, length)
    torch.manual_seed(extra)
    encoder, decoder = LearnedEncoder(8, length, stride, activation="relu"), LearnedDecoder(8, length, stride)
    wav = torch.randn(2, 1 + extra)
    whole = encoder(wav)
    with torch.no_grad():
        frames = _stream_frames(encoder, wav, sizes)
        torch.testing.assert_close(frames, whole, atol=1e-12, rtol=0)
        samples = _stream_samples(decoder, whole, sizes, wav.shape[-1])
        torch.testing.assert_close(samples, decoder(whole, wav.shape[-1]), atol=1e-12, rtol=0)


@settings(max_examples=30, deadline=None)
@given(sizes=sizes)
def test_cumulative_layer_norm_and_causal_tcn_streamed_equal_forward(sizes):
    torch.manual_seed(0)
    x = 3 + torch.randn(2, 6, 70)
    norm = CumulativeLayerNorm(6)
    tcn = TemporalConvNet(6, bottleneck_size=5, hidden_size=7, skip_size=4, kernel_size=3, num_blocks=3,
                          num_repeats=2, causal=True).eval()
    for block in (norm, tcn):
        state, parts = None, []
        with torch.no_grad():
            for piece in _pieces(x, sizes):
                out, state = block.step(piece, state)
                parts.append(out)
            torch.testing.assert_close(torch.cat(parts, -1), block(x), atol=1e-10, rtol=0)


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
def test_one_way_recurrent_stack_streams_and_a_bidirectional_one_refuses(rnn_type):
    torch.manual_seed(0)
    x = torch.randn(2, 40, 5)
    stack = RecurrentStack(5, 6, num_layers=2, bidirectional=False, rnn_type=rnn_type).eval()
    state, parts = None, []
    with torch.no_grad():
        for piece in _pieces(x.transpose(1, 2), [1, 7, 13]):
            out, state = stack.step(piece.transpose(1, 2), state)
            parts.append(out)
        torch.testing.assert_close(torch.cat(parts, 1), stack(x), atol=1e-12, rtol=0)
    with pytest.raises(SeparenaError, match="bidirectional"):
        RecurrentStack(5, 6, bidirectional=True).step(x, None)


def test_non_causal_tcn_refuses_to_stream():
    with pytest.raises(SeparenaError, match="GlobalLayerNorm.*causal=True"):
        TemporalConvNet(6, 5, 7, 4, num_blocks=2, num_repeats=1).step(torch.randn(1, 6, 10), None)
    with pytest.raises(SeparenaError, match="non-causal convolution"):
        TemporalConvNet(6, 5, 7, 4, num_blocks=2, num_repeats=1, norm="none").step(torch.randn(1, 6, 10), None)


# ---- the streaming separator

def _causal(name: str = "mask-inference", **params) -> separena.Separator:
    causal = {"mask-inference": {"bidirectional": False, "norm": "learned", "hidden_size": 16},
              "conv-tasnet": {"causal": True, "n_filters": 16, "bottleneck_size": 8, "hidden_size": 16,
                              "skip_size": 8, "num_blocks": 3, "num_repeats": 1}}[name]
    torch.manual_seed(0)
    return separena.create_model(name, **{**causal, **params}).eval()


@pytest.mark.parametrize(("name", "problem"), [
    ("mask-inference", "LogMagnitudeFeatures: norm 'instance'"),
    ("conv-tasnet-small", "GlobalLayerNorm"),
    ("deep-clustering", "masker \\(DeepClusteringMasker\\) has no step"),
    ("open-unmix-small", "RecurrentStack: bidirectional layers"),
    ("oracle-irm", "only a MaskSeparator"),
])
def test_models_that_cannot_stream_are_refused_in_one_line_naming_the_part(name, problem):
    with pytest.raises(SeparenaError, match=problem) as refused:
        StreamingSeparator(separena.create_model(name).eval())
    assert "\n" not in str(refused.value)


def test_a_post_filter_over_the_whole_input_is_refused_and_none_streams():
    """Open-Unmix's Wiener filter estimates each source's covariance over the whole input."""
    one_way = {"bidirectional": False, "hidden_size": 16}
    with pytest.raises(SeparenaError, match="apply_masks post-filters"):
        StreamingSeparator(separena.create_model("open-unmix-small", wiener_iterations=1, **one_way).eval())
    model = separena.create_model("open-unmix-small", **one_way).eval()
    assert not model.post_filters
    mix = torch.randn(1, 8000)
    with torch.no_grad():
        torch.testing.assert_close(separate_streaming(model, mix, 160), model(mix).estimates, atol=1e-10, rtol=0)


def test_training_mode_batch_changes_and_empty_flushes_are_refused():
    model = _causal()
    with pytest.raises(SeparenaError, match="eval mode"):
        StreamingSeparator(model.train())
    stream = StreamingSeparator(model.eval())
    with pytest.raises(SeparenaError, match="nothing to flush"):
        stream.flush()
    stream.push(torch.randn(2, 100))
    with pytest.raises(SeparenaError, match="batch of 2 streams.*got 3"):
        stream.push(torch.randn(3, 100))
    with pytest.raises(SeparenaError, match="block: expected shape"):
        stream.push(torch.randn(100))
    with pytest.raises(SeparenaError, match="block: expected a positive"):
        separate_streaming(model, torch.randn(1, 100), 0)


def test_a_stream_too_short_for_the_model_is_refused_as_forward_refuses_it():
    model = _causal()
    stream = StreamingSeparator(model)
    stream.push(torch.randn(1, 50))
    with pytest.raises(SeparenaError, match="MaskSeparator: input too short"):
        stream.flush()
    with pytest.raises(SeparenaError, match="MaskSeparator: input too short"):
        model(torch.randn(1, 50))


def test_flush_ends_the_stream_and_the_next_push_starts_another():
    model = _causal()
    mix = torch.randn(2, 1500)
    stream = StreamingSeparator(model)
    runs = []
    for _ in range(2):
        runs.append(torch.cat([stream.push(mix[:, :700]), stream.push(mix[:, 700:]), stream.flush()], -1))
    assert stream.received == 0
    torch.testing.assert_close(runs[0], runs[1], atol=0, rtol=0)
    with torch.no_grad():
        torch.testing.assert_close(runs[0], model(mix).estimates, atol=1e-12, rtol=0)


@pytest.mark.parametrize(("name", "window", "hop"), [("mask-inference", 256, 128), ("conv-tasnet", 16, 8)])
def test_output_lags_the_input_by_less_than_the_encoders_window(name, window, hop):
    """The docstring's promise: ``window - hop`` to ``window - 1`` samples behind, sample by sample."""
    stream = StreamingSeparator(_causal(name))
    lags, given = [], 0
    for sample in torch.randn(1, 3 * window).split(1, -1):
        given += stream.push(sample).shape[-1]
        lags.append(stream.received - given)
    assert min(lags[window:]) == window - hop
    assert max(lags) == window - 1


@pytest.mark.parametrize(("name", "seconds"), [
    ("mask-inference-causal", 10), ("chimera-pp-causal-small", 10), ("conv-tasnet-causal-small", 10),
    ("open-unmix-causal-small", 4), ("mask-inference-music-causal", 4),
])
def test_published_causal_weights_stream_in_float32_as_they_separate_whole(name, seconds, monkeypatch):
    """Seconds in 10-ms blocks: float32 rounding does not accumulate along the stream."""
    monkeypatch.setenv("SEPARENA_PUBLISHED", str(Path(__file__).parents[1] / "published"))
    torch.set_default_dtype(torch.float32)
    try:
        model = separena.pretrained(name)
        mix = 0.1 * torch.randn(1, seconds * model.sample_rate, generator=torch.Generator().manual_seed(0))
        streamed = separate_streaming(model, mix, model.sample_rate // 100)
        with torch.no_grad():
            whole = model(mix).estimates
    finally:
        torch.set_default_dtype(torch.float64)
    assert streamed.dtype == torch.float32
    assert (streamed - whole).abs().max() <= 1e-5 * whole.abs().max()


@pytest.mark.parametrize("rate", [11025, 16000, 44100])
def test_a_stream_at_another_rate_gives_what_separate_audio_gives_in_one_pass(rate):
    """Resampled in and back with soxr's streaming resampler: the same samples, the input's length."""
    torch.set_default_dtype(torch.float32)
    model = _causal()
    mix = 0.1 * torch.randn(2, round(1.37 * rate), generator=torch.Generator().manual_seed(rate))
    stream = StreamingSeparator(model, sample_rate=rate)
    parts = [stream.push(block) for block in _pieces(mix, [rate // 100, 7, rate // 30])]
    streamed = torch.cat([*parts, stream.flush()], -1)
    with torch.no_grad():
        whole = torch.stack([separena.separate_audio(model, channel, rate, chunk_seconds=0) for channel in mix])
    assert streamed.shape == whole.shape == (2, model.n_src, mix.shape[-1])
    assert (streamed - whole).abs().max() <= 1e-5 * whole.abs().max()


def test_a_stream_rate_that_is_not_a_positive_integer_is_refused():
    with pytest.raises(SeparenaError, match="sample_rate: expected a positive integer"):
        StreamingSeparator(_causal(), sample_rate=0)
