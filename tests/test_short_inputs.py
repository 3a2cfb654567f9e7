"""Short inputs and STFT hops: one clear error instead of torch's, and an exact inverse.

Before: ``model(mix)`` with ``n_fft // 2`` samples or fewer raised torch's "Padding size should
be less than ..." from the STFT's reflect padding, and hops above ``n_fft // 4`` lost the
last samples (4e-4 at n_fft=256, hop 128 in float32; up to 4 for hops above ``n_fft // 2``).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import separena
from separena import SeparenaError
from separena.blocks import ISTFT, STFT


@pytest.mark.parametrize("length", [1, 64, 128])
def test_stft_names_its_minimum_length(length: int) -> None:
    with pytest.raises(SeparenaError, match=rf"^STFT: input too short for STFT\(n_fft=256, hop_length=64\); "
                                            rf"expected at least 129 samples, got {length} samples?$"):
        STFT(256, 64)(torch.randn(1, length))


def test_stft_accepts_its_minimum_length() -> None:
    stft = STFT(256, 128)
    spec = stft(torch.randn(2, stft.min_length))
    assert stft.min_length == 129 and spec.shape[-1] == 129


@pytest.mark.parametrize("name", ["mask-inference", "deep-clustering", "open-unmix-speech"])
def test_model_with_a_short_mix_raises_one_clear_error_in_samples_and_seconds(name: str) -> None:
    model = separena.create_model(name, hidden_size=8, num_layers=1)
    with pytest.raises(SeparenaError, match=r": input too short for STFT\(n_fft=256, hop_length=\d+\); expected at "
                                            r"least 129 samples \(0\.01613 s at 8000 Hz\), got 128 samples "
                                            r"\(0\.016 s\)$"):
        model(torch.randn(1, 128))
    assert model(torch.randn(1, 129)).estimates.shape == (1, 2, 129)


@pytest.mark.parametrize("name", ["conv-tasnet", "dprnn-tasnet"])
def test_time_domain_models_take_a_single_sample(name: str) -> None:
    # separena's learned filterbanks zero-pad to whole frames: no minimum length, no check needed
    model = separena.create_model(name).eval()
    with torch.no_grad():
        estimates = model(torch.randn(1, 1)).estimates
    assert estimates.shape == (1, 2, 1) and torch.isfinite(estimates).all()


@pytest.mark.parametrize("cls", [STFT, ISTFT])
@pytest.mark.parametrize("hop", [0, 129, 192, 256])
def test_hops_without_an_exact_inverse_are_refused(cls: type, hop: int) -> None:
    with pytest.raises(SeparenaError, match=rf"^{cls.__name__}: hop_length; expected 1\.\.128 \(at most half of "
                                            rf"n_fft=256, which the inverse reconstructs exactly\), got {hop}$"):
        cls(256, hop)


def _shipped_stfts() -> set[tuple[int, int]]:
    """``(n_fft, hop_length)`` of every preset whose model builds a separena STFT."""
    pairs = set()
    for name in separena.list_models():
        model = separena.create_model(name)
        pairs |= {(m.n_fft, m.hop_length) for m in model.modules() if isinstance(m, STFT)}
    return pairs


def test_every_shipped_preset_uses_an_accepted_hop() -> None:
    pairs = _shipped_stfts()
    assert all(hop <= n_fft // 2 for n_fft, hop in pairs)
    # mask-inference and tf-gridnet-paper hop half their window, the others a quarter. tests/test_peers.py checks
    # each of these against torch.stft (SHIPPED_STFTS): a new pair belongs there too.
    assert pairs == {(128, 64), (256, 128), (256, 64), (1024, 256)}


@settings(max_examples=40, deadline=None)
@given(n_fft=st.sampled_from([64, 256, 1024, 2048]), hop_fraction=st.sampled_from([1 / 8, 1 / 4, 3 / 8, 1 / 2]),
       extra=st.integers(0, 3000), dtype=st.sampled_from([torch.float32, torch.float64]), seed=st.integers(0, 2**16))
def test_istft_inverts_stft_for_every_accepted_hop_and_length(n_fft: int, hop_fraction: float, extra: int,
                                                              dtype: torch.dtype, seed: int) -> None:
    hop = int(n_fft * hop_fraction)
    stft, istft = STFT(n_fft, hop).to(dtype), ISTFT(n_fft, hop).to(dtype)
    length = stft.min_length + extra
    wav = torch.randn(2, length, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    spec = stft(wav)
    assert spec.shape == (2, (length + stft.end_padding(length)) // hop + 1, n_fft // 2 + 1)
    out = istft(spec, length)
    assert out.shape == wav.shape
    # float32: measured <= 1.5e-6 (the hop-128 tail was 4e-4 before the end padding)
    assert (out - wav).abs().max() <= (1e-5 if dtype == torch.float32 else 1e-12)


@pytest.mark.parametrize("n_fft", [256, 1024, 2048])
def test_half_window_hop_keeps_the_last_samples(n_fft: int) -> None:
    # the length that failed worst before: the tail one sample short of a whole hop
    hop = n_fft // 2
    length = 20 * hop + hop - 1
    wav = torch.randn(1, length, generator=torch.Generator().manual_seed(0))
    out = ISTFT(n_fft, hop)(STFT(n_fft, hop)(wav), length)
    assert (out - wav).abs().max() <= 1e-5
