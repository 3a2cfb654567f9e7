"""bs-roformer adapter: 4 mono stems at the input length, band configuration errors (input checks:
the contract kit)."""

from __future__ import annotations

import pytest
import torch
from separena import SeparenaError, default_registry
from separena.testing import tiny_config

from separena_bs_roformer_adapter.models import equal_bands

NAMES = ["bs-roformer", "mel-band-roformer"]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("batch", "length"), [(1, 7999), (2, 8001), (2, 8017)])
def test_four_stems_at_the_input_length(name, batch, length):
    model = tiny_config(name).build().eval()
    assert model.n_src == 4 and model.sample_rate == 16000
    with torch.no_grad():
        est = model(0.1 * torch.randn(batch, length)).estimates
    assert est.shape == (batch, 4, length)


@pytest.mark.parametrize("name", NAMES)
def test_one_stem(name):
    model = tiny_config(name, n_src=1).build().eval()
    with torch.no_grad():
        assert model(0.1 * torch.randn(2, 4000)).estimates.shape == (2, 1, 4000)


def test_equal_bands():
    assert equal_bands(33, 4) == (8, 8, 8, 9)
    assert sum(equal_bands(513, 62)) == 513
    with pytest.raises(SeparenaError, match="num_bands"):
        default_registry().create_model("bs-roformer", n_fft=64, num_bands=40)


def test_too_many_mel_bands_is_a_separena_error():
    with pytest.raises(SeparenaError, match="mel-band-roformer: num_bands=60, n_fft=64"):
        default_registry().create_model("mel-band-roformer", n_fft=64, num_bands=60)
