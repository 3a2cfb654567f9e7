"""Math checks of the time-domain blocks: learned filterbanks, the TCN, dual-path chunking, channel norms."""

from __future__ import annotations

import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from separena import SeparenaError
from separena.blocks import (
    Conv1DBlock, CumulativeLayerNorm, DualPathBlock, DualPathMasker, DualPathRNN, GlobalLayerNorm, LearnedDecoder,
    LearnedEncoder, TemporalConvNet, chunk, dual_path_net, frame_padding, overlap_add,
)

torch.set_num_threads(1)


# --- framing -----------------------------------------------------------------------------

@pytest.mark.parametrize("length", [1, 7, 8, 9, 100, 1001])
@pytest.mark.parametrize(("size", "hop"), [(16, 8), (4, 2), (6, 3), (5, 5), (2, 1)])
def test_frame_padding_covers_every_sample_equally(length, size, hop):
    left, right, n_frames = frame_padding(length, size, hop)
    assert left + length + right == (n_frames - 1) * hop + size
    cover = torch.zeros(left + length + right)
    for f in range(n_frames):
        cover[f * hop: f * hop + size] += 1
    assert torch.all(cover[left: left + length] == size // hop)
    assert 0 <= right - (size - hop) < hop  # no frame made only of padding


# --- learned filterbanks -------------------------------------------------------------------

def test_encoder_shapes_and_frame_count():
    enc = LearnedEncoder(32, 16)
    out = enc(torch.randn(3, 16000))
    assert out.shape == (3, 2001, 32)  # ceil(16000 / 8) + 1
    assert LearnedEncoder(8, 2)(torch.randn(2, 100)).shape == (2, 101, 8)


def test_encoder_is_a_strided_correlation():
    enc = LearnedEncoder(4, 6, stride=3)
    x = torch.randn(1, 20)
    out = enc(x)  # [1, F, 4]
    left, right, _ = frame_padding(20, 6, 3)
    padded = torch.nn.functional.pad(x, (left, right))[0]
    w = enc.conv.weight[:, 0]  # [4, 6]
    for f in range(out.shape[1]):
        torch.testing.assert_close(out[0, f], w @ padded[f * 3: f * 3 + 6])


def test_decoder_with_encoders_transposed_orthonormal_filters_reconstructs():
    n_filters, length, stride = 24, 16, 8
    enc, dec = LearnedEncoder(n_filters, length), LearnedDecoder(n_filters, length)
    q, _ = torch.linalg.qr(torch.randn(n_filters, n_filters, dtype=torch.float64))
    w = q[:, :length].float()  # orthonormal columns: w.T @ w = I_L
    with torch.no_grad():
        enc.conv.weight[:, 0] = w
        dec.conv.weight[:, 0] = w * (stride / length)  # transposed filters, divided by the overlap
    x = torch.randn(2, 1003)
    torch.testing.assert_close(dec(enc(x), 1003), x, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("n_filters", "length", "stride"), [(64, 16, 8), (16, 16, 4), (8, 2, 1)])
def test_decoder_init_from_encoder_reconstructs(n_filters, length, stride):
    enc = LearnedEncoder(n_filters, length, stride)
    dec = LearnedDecoder(n_filters, length, stride).init_from_encoder(enc)
    x = torch.randn(2, 777)
    torch.testing.assert_close(dec(enc(x), 777), x, atol=1e-4, rtol=1e-4)


def test_stft_init_is_a_windowed_fourier_basis_that_reconstructs():
    enc = LearnedEncoder(16, 16).init_stft()
    n = torch.arange(16, dtype=torch.float64)
    window = torch.sin(torch.pi * (n + 0.5) / 16)
    torch.testing.assert_close(enc.conv.weight[0, 0], window.float())  # bin 0: the window itself
    torch.testing.assert_close(enc.conv.weight[2, 0], (window * torch.sin(2 * torch.pi * n / 16)).float())
    assert torch.linalg.matrix_rank(enc.conv.weight[:, 0]) == 16
    dec = LearnedDecoder(16, 16).init_from_encoder(enc)
    x = torch.randn(1, 500)
    torch.testing.assert_close(dec(enc(x), 500), x, atol=1e-4, rtol=1e-4)


def test_filterbank_errors_are_separena_errors():
    with pytest.raises(SeparenaError, match="filter_length; expected an integer >= 2, got 1"):
        LearnedEncoder(8, 1)
    with pytest.raises(SeparenaError, match="expected 'linear' or 'relu'"):
        LearnedEncoder(8, 4, activation="tanh")
    with pytest.raises(SeparenaError, match="expected 11, got 10"):
        LearnedDecoder(4, 4)(torch.zeros(1, 10, 4), 20)


# --- temporal convolutional network ----------------------------------------------------------

def _input_grad(net: torch.nn.Module, x: torch.Tensor, t: int) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    net(x)[..., t].sum().backward()
    return x.grad.abs().sum(dim=(0, 1))  # [T]: does output t depend on input s?


@pytest.mark.parametrize(("kernel_size", "num_blocks", "num_repeats"), [(3, 3, 2), (2, 4, 1), (5, 2, 2)])
def test_tcn_receptive_field(kernel_size, num_blocks, num_repeats):
    torch.manual_seed(0)
    tcn = TemporalConvNet(4, 6, 8, 5, kernel_size, num_blocks, num_repeats, norm="none").double()
    rf = tcn.receptive_field
    assert rf == 1 + num_repeats * (kernel_size - 1) * (2 ** num_blocks - 1)
    frames, t = 3 * rf, 3 * rf // 2
    dependent = torch.nonzero(_input_grad(tcn, torch.randn(2, 4, frames, dtype=torch.float64), t)).flatten()
    assert dependent.max() - dependent.min() + 1 == rf
    # Past context (k-1)*d//2 per block (rounded down for even totals), future context the rest.
    past = sum((kernel_size - 1) * 2 ** (i % num_blocks) // 2 for i in range(num_blocks * num_repeats))
    assert dependent.min() == t - past and dependent.max() == t + (rf - 1 - past)


def test_causal_tcn_output_does_not_depend_on_the_future():
    torch.manual_seed(0)
    tcn = TemporalConvNet(4, 6, 8, 5, 3, 3, 2, causal=True).double()  # cumulative layer norm
    x = torch.randn(2, 4, 80, dtype=torch.float64)
    for t in (0, 17, 50):
        grad = _input_grad(tcn, x, t)
        assert torch.all(grad[t + 1:] == 0) and grad[t] > 0
    # and the same in values: changing the future leaves the past untouched
    y = x.clone()
    y[..., 40:] = torch.randn(2, 4, 40, dtype=torch.float64)
    torch.testing.assert_close(tcn(x)[..., :40], tcn(y)[..., :40])


@pytest.mark.parametrize("kernel_size", [2, 3, 4])
@pytest.mark.parametrize("causal", [False, True])
def test_conv1d_block_keeps_length(kernel_size, causal):
    block = Conv1DBlock(6, 10, kernel_size, dilation=4, skip_size=3, causal=causal)
    res, skip = block(torch.randn(2, 6, 37))
    assert res.shape == (2, 6, 37) and skip.shape == (2, 3, 37)


def test_tcn_skip_and_residual_outputs():
    with_skip = TemporalConvNet(8, 6, 12, 5, num_blocks=2, num_repeats=2)
    assert with_skip(torch.randn(2, 8, 30)).shape == (2, 5, 30)
    assert with_skip.blocks[-1].res_size == 0  # the last residual would have no consumer
    residual_only = TemporalConvNet(8, 6, 12, 0, num_blocks=2, num_repeats=2)
    assert residual_only(torch.randn(2, 8, 30)).shape == (2, 6, 30)
    # skip sum == sum of the per-block skip outputs, computed by hand
    x = torch.randn(1, 8, 30)
    h, total = with_skip.bottleneck(with_skip.input_norm(x)), 0
    for block in with_skip.blocks:
        res, skip = block(h)
        total = total + skip
        h = h + res if res is not None else h
    torch.testing.assert_close(with_skip(x), total)


# --- dual path -------------------------------------------------------------------------------

@pytest.mark.parametrize("frames", [1, 9, 10, 11, 100, 257])
@pytest.mark.parametrize(("size", "hop"), [(10, 5), (8, 2), (6, 6)])
def test_chunk_then_overlap_add_is_identity_times_overlap(frames, size, hop):
    x = torch.randn(2, frames, 3)
    chunks = chunk(x, size, hop)
    assert chunks.shape[0] == 2 and chunks.shape[2:] == (size, 3)
    torch.testing.assert_close(overlap_add(chunks, hop, frames), x * (size // hop))


def test_chunk_contents_are_padded_slices():
    x = torch.arange(2 * 23 * 2, dtype=torch.float32).reshape(2, 23, 2)
    chunks = chunk(x, 6, 3)
    left, right, n = frame_padding(23, 6, 3)
    padded = torch.nn.functional.pad(x, (0, 0, left, right))
    assert chunks.shape == (2, n, 6, 2)
    for i in range(n):
        torch.testing.assert_close(chunks[:, i], padded[:, i * 3: i * 3 + 6])


def test_overlap_add_is_the_adjoint_of_chunk():
    n_chunks = frame_padding(37, 8, 4)[2]
    x, y = torch.randn(2, 37, 3), torch.randn(2, n_chunks, 8, 3)  # <chunk(x), y> == <x, overlap_add(y)>
    torch.testing.assert_close((chunk(x, 8, 4) * y).sum(), (x * overlap_add(y, 4, 37)).sum())


def test_dual_path_block_paths_and_norm():
    torch.manual_seed(0)
    block = DualPathRNN(4, 5, num_repeats=1).blocks[0].double()
    y = torch.randn(2, 3, 6, 4, dtype=torch.float64)
    normed = block._normed(block.intra_norm, y)  # gLN over chunks, frames and features per item
    torch.testing.assert_close(normed.mean(dim=(1, 2, 3)), torch.zeros(2, dtype=torch.float64))
    torch.testing.assert_close(normed.var(dim=(1, 2, 3), unbiased=False), torch.ones(2, dtype=torch.float64))
    # intra path alone: chunk i of the output depends on chunk i of the input only
    intra = lambda x: block.intra(x.reshape(6, 6, 4)).reshape(2, 3, 6, 4)  # noqa: E731
    x = y.clone().requires_grad_(True)
    intra(x)[:, 1].sum().backward()
    assert torch.all(x.grad[:, [0, 2]] == 0) and torch.all(x.grad[:, 1].abs().sum(-1) > 0)
    # the full block mixes chunks (inter path) and keeps the shape
    assert DualPathRNN(4, 5, num_repeats=2)(torch.randn(2, 3, 6, 4)).shape == (2, 3, 6, 4)


def test_dual_path_block_loads_weights_saved_under_the_rnn_names():
    torch.manual_seed(0)
    net = DualPathRNN(4, 5, num_repeats=2).eval()
    # the keys before the paths held both: blocks.0.intra_rnn.*, blocks.0.intra_linear.*, ...
    old = {re.sub(r"\.(intra|inter)\.0\.", r".\1_rnn.", re.sub(r"\.(intra|inter)\.1\.", r".\1_linear.", key)): value
           for key, value in net.state_dict().items()}
    assert any(".intra_rnn." in k for k in old) and any(".inter_linear." in k for k in old)
    torch.manual_seed(1)
    loaded = DualPathRNN(4, 5, num_repeats=2).eval()
    loaded.load_state_dict(old)  # strict: every key found, none left over
    x = torch.randn(2, 3, 6, 4)
    torch.testing.assert_close(loaded(x), net(x))


def test_dual_path_block_takes_any_paths():
    x = torch.randn(2, 3, 6, 4)
    block = DualPathBlock(4, torch.nn.Identity(), torch.nn.Identity())  # each path: x + gLN(x)
    expected = x + block._normed(block.intra_norm, x)
    torch.testing.assert_close(block(x), expected + block._normed(block.inter_norm, expected))


def test_dual_path_net_puts_a_fresh_sequence_model_in_every_path():
    made = []

    def sequence() -> torch.nn.Module:
        made.append(torch.nn.Linear(6, 6))
        return made[-1]

    model = dual_path_net("arch", sequence, n_src=3, sample_rate=8000, n_filters=10, filter_length=4, d_model=6,
                          num_repeats=2, chunk_size=5, mask_activation="relu")
    paths = [m for block in model.masker.dual_path for m in (block.intra, block.inter)]
    assert len(made) == 4 and all(a is b for a, b in zip(paths, made, strict=True))
    assert model.masker.bottleneck.bias is None and model.n_src == 3
    assert model(torch.randn(2, 160)).estimates.shape == (2, 3, 160)
    with pytest.raises(SeparenaError, match="arch: num_repeats; expected a positive integer, got 0"):
        dual_path_net("arch", sequence, n_src=2, sample_rate=8000, n_filters=10, filter_length=4, d_model=6,
                      num_repeats=0, chunk_size=5, mask_activation="relu")


def test_dual_path_masker_refuses_bad_settings():
    with pytest.raises(SeparenaError, match="DualPathMasker: chunk_size; expected an integer >= 2, got 1"):
        DualPathMasker(8, 2, 4, 1, torch.nn.Identity(), "sigmoid")
    with pytest.raises(SeparenaError, match="DualPathMasker: mask_activation; expected sigmoid, softmax or relu"):
        DualPathMasker(8, 2, 4, 6, torch.nn.Identity(), "tanh")


def test_dual_path_batch_items_independent():
    torch.manual_seed(0)
    net = DualPathRNN(4, 5, num_repeats=2).eval()
    x = torch.randn(3, 4, 6, 4)
    with torch.no_grad():
        torch.testing.assert_close(net(x)[1:2], net(x[1:2]), atol=1e-5, rtol=1e-4)


# --- channel norms -----------------------------------------------------------------------
def _affine(norm: torch.nn.Module, channels: int) -> torch.nn.Module:
    with torch.no_grad():
        norm.gamma.copy_(torch.linspace(0.5, 2.0, channels).view(1, -1, 1))
        norm.beta.copy_(torch.linspace(-1.0, 1.0, channels).view(1, -1, 1))
    return norm


@settings(max_examples=60, deadline=None)
@given(batch=st.integers(1, 3), channels=st.integers(1, 16), frames=st.integers(2, 64),
       offset=st.floats(-30.0, 30.0), log_scale=st.floats(-3.0, 3.0), seed=st.integers(0, 2**16))
def test_one_pass_global_layer_norm_equals_group_norm(batch, channels, frames, offset, log_scale, seed):
    """gLN's one-pass statistics (E[x^2] - E[x]^2) equal the two-pass ones of torch's GroupNorm
    with one group, also for inputs whose mean is up to 30 standard deviations from zero.

    Each item is standardised first, so that its own spread is 1: a few random samples can lie
    far closer together than the distribution's deviation (two at 23 +- 0.07 gave a 0.3 % error,
    float32's rounding of E[x^2] blown up by 23^2 / 0.07^2)."""
    x = torch.randn(batch, channels, frames, generator=torch.Generator().manual_seed(seed))
    x = (x - x.mean(dim=(1, 2), keepdim=True)) / x.std(dim=(1, 2), unbiased=False, keepdim=True)
    x = (x + offset) * 10.0 ** log_scale
    norm = _affine(GlobalLayerNorm(channels), channels)
    want = torch.nn.functional.group_norm(x, 1, norm.gamma.view(-1), norm.beta.view(-1), eps=norm.eps)
    torch.testing.assert_close(norm(x), want, rtol=1e-3, atol=2e-3)


@settings(max_examples=40, deadline=None)
@given(channels=st.integers(1, 8), frames=st.integers(1, 32), offset=st.floats(-10.0, 10.0),
       seed=st.integers(0, 2**16))
def test_cumulative_layer_norm_normalises_each_prefix(channels, frames, offset, seed):
    """cLN at frame t is gLN of frames 0..t, read at t (so it never looks ahead)."""
    x = torch.randn(2, channels, frames, generator=torch.Generator().manual_seed(seed)) + offset
    cln = _affine(CumulativeLayerNorm(channels), channels)
    gln = _affine(GlobalLayerNorm(channels), channels)
    want = torch.stack([gln(x[..., : t + 1])[..., t] for t in range(frames)], dim=-1)
    torch.testing.assert_close(cln(x), want, rtol=1e-3, atol=2e-3)


@pytest.mark.parametrize("norm", [GlobalLayerNorm, CumulativeLayerNorm])
def test_channel_norms_of_silence_give_beta_and_finite_gradients(norm):
    x = torch.zeros(2, 4, 10, requires_grad=True)
    layer = _affine(norm(4), 4)
    y = layer(x)
    torch.testing.assert_close(y, layer.beta.expand_as(y).detach())
    y.square().sum().backward()
    assert torch.isfinite(x.grad).all() and all(torch.isfinite(p.grad).all() for p in layer.parameters())
