"""demucs adapter: 4 mono stems at the input length, configuration errors, and an evaluation that
does not depend on what the model ran before (input checks: the contract kit)."""

from __future__ import annotations

import pytest
import torch
from separena import SeparenaError, default_registry
from separena.testing import tiny_config

NAMES = ["htdemucs", "hdemucs"]


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


def test_evaluation_does_not_depend_on_the_last_training_crop():
    # With the library's use_train_segment=True, a training pass on 1-s crops would make every
    # shorter evaluation input be padded to 1 s, changing its estimate.
    model = tiny_config("htdemucs").build()
    mix = 0.1 * torch.randn(1, 4000)
    with torch.no_grad():
        before = model.eval()(mix).estimates
        model.train()(0.1 * torch.randn(1, 16000))
        after = model.eval()(mix).estimates
    assert torch.equal(before, after)


@pytest.mark.parametrize(("name", "params", "match"), [
    ("htdemucs", {"n_fft": 100}, "htdemucs: n_fft must be a power of two"),
    ("hdemucs", {"n_src": 0}, "hdemucs: n_src must be at least 1"),
    ("htdemucs", {"channels": 6, "dconv_compress": 2, "depth": 2, "n_fft": 1024, "num_heads": 8},
     r"num_heads=8 must divide .* = 12"),
    ("hdemucs", {"channels": 2}, r"hdemucs: dconv_compress must be in \[1, channels=2\]"),
    ("htdemucs", {"n_fft": 1024, "depth": 4}, r"htdemucs: n_fft=1024 with depth=4: .* = 1024$"),
    ("hdemucs", {"n_fft": 4096, "depth": 4}, r"hdemucs: n_fft=4096 with depth=4: .* = 1024$"),
])
def test_bad_configuration_is_a_separena_error(name, params, match):
    with pytest.raises(SeparenaError, match=match):
        default_registry().create_model(name, **params)
