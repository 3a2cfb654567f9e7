"""Core blocks: the math, not just the shapes."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from separena import SeparenaError
from separena.blocks import (
    ISTFT, STFT, BatchNormFreq, EmbeddingHead, InstanceNorm, LogMagnitude, Magnitude, MaskHead, RecurrentStack,
    ShiftAndScale, mask_activation,
)


@settings(max_examples=15, deadline=None)
@given(length=st.integers(300, 3000), n_fft=st.sampled_from([64, 128, 256]), seed=st.integers(0, 2**16))
def test_stft_istft_reconstructs_perfectly(length, n_fft, seed):
    wav = torch.randn(2, length, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    stft, istft = STFT(n_fft, n_fft // 4).double(), ISTFT(n_fft, n_fft // 4).double()
    spec = stft(wav)
    assert spec.shape == (2, length // (n_fft // 4) + 1, n_fft // 2 + 1)
    assert torch.allclose(istft(spec, length), wav, atol=1e-9)


def test_stft_of_a_sinusoid_peaks_at_its_bin():
    sr, n_fft = 8000, 256
    t = torch.arange(sr) / sr
    freq = 1000.0  # exactly bin 32 at 31.25 Hz per bin
    spec = STFT(n_fft, 64)(torch.sin(2 * math.pi * freq * t).unsqueeze(0))
    assert Magnitude()(spec)[0, 10:-10].argmax(-1).unique().tolist() == [32]


def test_magnitude_is_abs_and_finite_gradient_at_zero():
    spec = torch.tensor([3 + 4j, 0j], dtype=torch.complex64)
    spec_r = torch.view_as_real(spec).clone().requires_grad_(True)
    mag = Magnitude()(torch.view_as_complex(spec_r))
    assert torch.allclose(mag, torch.tensor([5.0, 1e-4]), atol=1e-6)
    mag.sum().backward()
    assert torch.isfinite(spec_r.grad).all()


def test_log_magnitude_is_decibels_with_a_floor():
    out = LogMagnitude(amin=1e-4)(torch.tensor([1.0, 10.0, 0.1, 0.0]))
    assert torch.allclose(out, torch.tensor([0.0, 20.0, -20.0, -80.0]), atol=1e-4)


def test_batch_norm_freq_normalises_each_bin_over_batch_and_time():
    x = torch.randn(4, 50, 3) * torch.tensor([1.0, 5.0, 0.1]) + torch.tensor([0.0, 3.0, -2.0])
    y = BatchNormFreq(3).train()(x)
    assert torch.allclose(y.mean(dim=(0, 1)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(y.var(dim=(0, 1), unbiased=False), torch.ones(3), atol=2e-3)  # eps=1e-5 vs var 0.01


def test_instance_norm_is_per_item():
    x = torch.stack([torch.randn(20, 5) * 3 + 1, torch.randn(20, 5) * 0.1 - 4])
    y = InstanceNorm()(x)
    assert torch.allclose(y.mean(dim=(1, 2)), torch.zeros(2), atol=1e-5)
    assert torch.allclose(y.std(dim=(1, 2), unbiased=False), torch.ones(2), atol=1e-3)
    assert torch.allclose(InstanceNorm()(x[:1]), y[:1])


def test_shift_and_scale_starts_as_identity_and_is_affine():
    block = ShiftAndScale(3)
    x = torch.randn(2, 4, 3)
    assert torch.equal(block(x), x)
    with torch.no_grad():
        block.scale.fill_(2.0)
        block.shift.fill_(1.0)
    assert torch.allclose(block(x), 2 * x + 1)


@pytest.mark.parametrize("rnn_type", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_recurrent_stack_shapes_and_causality(rnn_type, bidirectional):
    stack = RecurrentStack(6, 5, num_layers=2, bidirectional=bidirectional, rnn_type=rnn_type).eval()
    x = torch.randn(2, 10, 6)
    y = stack(x)
    assert y.shape == (2, 10, 10 if bidirectional else 5) and stack.output_size == y.shape[-1]
    x2 = x.clone()
    x2[:, 7:] += 1.0  # change the future only
    changed_past = not torch.allclose(stack(x2)[:, :7], y[:, :7])
    assert changed_past == bidirectional  # a unidirectional stack is causal


def test_recurrent_stack_dropout_acts_in_training_only():
    stack = RecurrentStack(4, 3, num_layers=1, dropout=0.5)
    x = torch.randn(1, 8, 4)
    assert torch.equal(stack.eval()(x), stack.eval()(x))
    torch.manual_seed(0)
    assert not torch.equal(stack.train()(x), stack.eval()(x))


def test_mask_head_activations_and_layout():
    x = torch.randn(2, 7, 5)
    soft = MaskHead(5, 9, 3, "softmax")(x)
    assert soft.shape == (2, 3, 7, 9)
    assert torch.allclose(soft.sum(1), torch.ones(2, 7, 9), atol=1e-6)
    sig = MaskHead(5, 9, 3, "sigmoid")(x)
    assert ((sig > 0) & (sig < 1)).all()
    assert (MaskHead(5, 9, 3, "relu")(x) >= 0).all()
    with pytest.raises(SeparenaError, match="expected sigmoid, softmax or relu, got 'tanh'"):
        MaskHead(5, 9, 3, "tanh")  # type: ignore[arg-type]
    with pytest.raises(SeparenaError, match="expected sigmoid, tanh or none, got 'relu'"):
        EmbeddingHead(5, 9, 4, "relu")  # type: ignore[arg-type]
    with pytest.raises(SeparenaError, match="mask activation: expected one of sigmoid, softmax, relu, got 'x'"):
        mask_activation(x, "x")  # type: ignore[arg-type]


def test_mask_head_source_layout_matches_linear_output():
    head = MaskHead(4, 3, 2, "relu")
    x = torch.randn(1, 1, 4)
    flat = torch.relu(head.linear(x))[0, 0]  # [S * F]
    assert torch.allclose(head(x)[0, :, 0, :], flat.reshape(2, 3))


def test_embedding_head_gives_unit_norm_vectors():
    emb = EmbeddingHead(5, 9, embedding_dim=4)(torch.randn(2, 7, 5))
    assert emb.shape == (2, 7, 9, 4)
    assert torch.allclose(emb.norm(dim=-1), torch.ones(2, 7, 9), atol=1e-5)
