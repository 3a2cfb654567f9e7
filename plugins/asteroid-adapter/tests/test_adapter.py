"""asteroid adapter: trains through separena's loop, fits output length, and fails in isolation."""

from __future__ import annotations

import pytest
import torch
from separena import SeparenaError, default_registry
from separena.testing import tiny_config

NAMES = [
    "asteroid-conv-tasnet", "asteroid-dprnn-tasnet", "asteroid-dptnet", "asteroid-lstm-tasnet",
    "asteroid-sudormrf", "asteroid-sudormrf-improved", "asteroid-dcunet", "asteroid-dccrnet",
]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("length", [3999, 4001, 4097])
def test_output_length_equals_input_length(name, length):
    model = tiny_config(name).build().eval()
    with torch.no_grad():
        est = model(0.1 * torch.randn(2, length)).estimates
    assert est.shape == (2, 2, length)


def test_rejects_anything_but_batch_time():
    model = tiny_config("asteroid-conv-tasnet").build()
    with pytest.raises(SeparenaError, match=r"expected shape \[batch, time\]"):
        model(torch.randn(2, 1, 4000))  # asteroid itself would accept [batch, channels, time]


def test_dcunet_rejects_an_incompatible_n_fft_at_build_time():
    with pytest.raises(SeparenaError, match="n_fft must be a multiple of 512 .* got 256"):
        default_registry().create_model("asteroid-dcunet", variant="DCUNet-16", n_fft=256)
