"""The oracles' math: what each mask must do on signals where the answer is known."""

from __future__ import annotations

import math

import pytest
import torch

from separena import SeparenaError, create_model, separate
from separena.data import TensorMixtureSet
from separena.evaluation import evaluate
from separena.metrics import si_sdr, si_sdri

SR = 8000


def _tone(hz: float, seconds: float = 1.0, amplitude: float = 0.5) -> torch.Tensor:
    t = torch.arange(int(seconds * SR)) / SR
    return amplitude * torch.sin(2 * math.pi * hz * t)


def _noise_sources(batch: int = 2, n_src: int = 2, seconds: float = 0.5) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return 0.1 * torch.randn(batch, n_src, int(seconds * SR), generator=gen)


def test_ibm_separates_disjoint_sinusoids_almost_perfectly() -> None:
    sources = torch.stack([_tone(440.0), _tone(2000.0, amplitude=0.3)]).unsqueeze(0)  # [1, 2, T]
    mix = sources.sum(1)
    out = separate(create_model("oracle-ibm"), mix, sources)
    assert si_sdr(out.estimates, sources).min() > 30.0  # dB
    assert si_sdri(out.estimates, sources, mix).min() > 25.0


@pytest.mark.parametrize("name", ["oracle-irm", "oracle-wiener", "oracle-ibm"])
def test_masks_that_sum_to_one_give_estimates_that_sum_to_the_mixture(name: str) -> None:
    sources = _noise_sources()
    mix = sources.sum(1)
    out = separate(create_model(name), mix, sources)
    torch.testing.assert_close(out.estimates.sum(1), mix, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ["oracle-irm", "oracle-ibm"])
def test_noise_in_the_mixture_competes_for_each_bin(name: str) -> None:
    # Two tones over a band of noise none of the references holds: the noise's bins go to no
    # source, so the estimates are the tones, not the tones plus a share of the noise each.
    sources = torch.stack([_tone(440.0), _tone(2000.0, amplitude=0.3)]).unsqueeze(0)
    gen = torch.Generator().manual_seed(1)
    noise = torch.fft.irfft(torch.fft.rfft(torch.randn(1, SR, generator=gen)) * (torch.arange(SR // 2 + 1) > 3000))
    mix = sources.sum(1) + noise
    out = separate(create_model(name), mix, sources)
    assert out.masks.sum(1).amin() < 0.1  # the noise-only bins
    assert si_sdr(out.estimates, sources).min() > 20.0  # dB; a mask blind to the noise leaves it in
    model = create_model(name)
    blind = separate(model, sources.sum(1), sources).masks  # masks of the clean mixture
    blind_estimates = model.istft((blind * model.stft(mix).unsqueeze(1))[0], SR)  # applied to the noisy one
    assert si_sdr(blind_estimates, sources[0]).max() < 10.0


def test_psm_is_truncated_to_unit_interval_and_exact_for_a_lone_source() -> None:
    sources = _noise_sources()
    out = separate(create_model("oracle-psm"), sources.sum(1), sources)
    assert out.masks.min() >= 0.0 and out.masks.max() <= 1.0
    lone = torch.stack([sources[:, 0], torch.zeros_like(sources[:, 0])], dim=1)  # second source silent
    out = separate(create_model("oracle-psm"), lone.sum(1), lone)
    torch.testing.assert_close(out.estimates, lone, atol=1e-5, rtol=1e-4)


def test_oracles_follow_the_references() -> None:
    sources = _noise_sources()
    model = create_model("oracle-irm")
    straight = separate(model, sources.sum(1), sources).estimates
    swapped = separate(model, sources.sum(1), sources.flip(1)).estimates
    torch.testing.assert_close(swapped, straight.flip(1))


def test_mixture_scores_zero_si_sdri() -> None:
    sources = _noise_sources(batch=3)
    mix = sources.sum(1)
    out = separate(create_model("mixture", n_src=2), mix, sources)
    assert out.estimates.shape == sources.shape
    torch.testing.assert_close(si_sdri(out.estimates, sources, mix), torch.zeros(3, 2), atol=1e-4, rtol=0)


def test_evaluate_passes_references_to_oracles_only() -> None:
    sources = torch.stack([_tone(440.0, 0.5), _tone(2000.0, 0.5, amplitude=0.3)])  # [2, T]
    examples = TensorMixtureSet([sources.sum(0)], [sources])
    assert evaluate(create_model("oracle-ibm"), examples, progress=False).mean > 25.0
    assert abs(evaluate(create_model("mixture"), examples, progress=False).mean) < 1e-3


def test_oracle_without_references_is_a_one_line_error() -> None:
    mix = _noise_sources().sum(1)
    with pytest.raises(SeparenaError, match="needs the reference sources"):
        separate(create_model("oracle-ibm"), mix)
    with pytest.raises(SeparenaError, match=r"^references: expected shape \[batch, n_src, time\] = \[2, 2, 4000\], "
                                            r"got \[2, 3, 4000\]$"):
        separate(create_model("oracle-ibm"), mix, _noise_sources(n_src=3))


@pytest.mark.parametrize("power", [0.0, -1.0])
def test_irm_power_must_be_positive(power: float) -> None:
    with pytest.raises(SeparenaError, match=rf"^power: expected a positive number, got {power}$"):
        create_model("oracle-irm", power=power)
