"""LimitBandwidth, bandwidth_to_max_bin and the Wiener post-filter."""

from __future__ import annotations

import pytest
import torch

from separena import SeparenaError
from separena.blocks.bandwidth import LimitBandwidth, bandwidth_to_max_bin
from separena.blocks.wiener import WienerFilter


def test_max_bin_counts_bins_at_or_below_the_cut_off() -> None:
    # bin k is centred on k * sr / n_fft: 16 kHz, 1024 points -> 15.625 Hz per bin.
    assert bandwidth_to_max_bin(16000, 1024, 6000) == 385  # bins 0..384, 384 * 15.625 = 6000
    assert bandwidth_to_max_bin(16000, 1024, 5999) == 384
    assert bandwidth_to_max_bin(44100, 4096, 16000) == 1487  # Open-Unmix's value at 44.1 kHz
    assert bandwidth_to_max_bin(16000, 1024, 8000) == 513 == bandwidth_to_max_bin(16000, 1024, 1e9)
    with pytest.raises(SeparenaError, match=r"^bandwidth_hz: expected a positive frequency in Hz, got 0$"):
        bandwidth_to_max_bin(16000, 1024, 0)


def test_limit_bandwidth_keeps_the_lowest_bins() -> None:
    x = torch.arange(2 * 3 * 10.0).reshape(2, 3, 10)
    assert torch.equal(LimitBandwidth(4)(x), x[..., :4])
    assert torch.equal(LimitBandwidth(99)(x), x)
    with pytest.raises(SeparenaError):
        LimitBandwidth(0)


def test_wiener_outputs_sum_to_the_mixture_and_recover_disjoint_sources() -> None:
    torch.manual_seed(0)
    sources = torch.randn(2, 3, 12, 9, dtype=torch.complex64)
    support = torch.randint(0, 3, (2, 12, 9))  # each TF bin belongs to one source
    sources = sources * torch.nn.functional.one_hot(support, 3).permute(0, 3, 1, 2)
    mix = sources.sum(1)
    for iterations in (0, 1, 3):
        out = WienerFilter(iterations)(sources.abs(), mix)
        assert out.shape == sources.shape and out.dtype == mix.dtype
        assert torch.allclose(out.sum(1), mix, atol=1e-4)
        assert torch.allclose(out, sources, atol=1e-3)  # disjoint supports: the filter is exact


def test_wiener_is_finite_on_silence_and_rejects_negative_iterations() -> None:
    out = WienerFilter(2)(torch.zeros(1, 2, 5, 4), torch.zeros(1, 5, 4, dtype=torch.complex64))
    assert torch.isfinite(out.real).all() and torch.isfinite(out.imag).all()
    with pytest.raises(SeparenaError, match=r"^wiener iterations: expected an integer >= 0, got -1$"):
        WienerFilter(-1)
