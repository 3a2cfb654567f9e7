"""asteroid adapter: trains through separena's loop, fits output length, and fails in isolation."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from separena import Budget, Registry, SeparenaError, Separator, default_registry
from separena.data import SeparationData, TensorMixtureSet
from separena.testing import tiny_config
from separena.train import train

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
def test_one_training_step_changes_every_trainable_parameter(name):
    config = tiny_config(name)
    torch.manual_seed(0)  # train() builds under the same seed
    before = {k: p.detach().clone() for k, p in config.build().named_parameters() if p.requires_grad}
    model, result = train(config, _fake_data(), Budget(steps=1, batch_size=2), segment_seconds=0.5,
                          progress=False)
    assert result.steps == 1 and torch.isfinite(torch.tensor(result.losses)).all()
    after = dict(model.named_parameters())
    unchanged = [k for k, p in before.items() if torch.equal(p, after[k].detach())]
    assert not unchanged, f"{name}: parameters unchanged after one step: {unchanged[:5]}"


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


def test_listing_models_does_not_import_asteroid():
    code = ("import sys, separena; names = separena.list_models('asteroid-*'); "
            "assert names and 'asteroid' not in sys.modules, sorted(m for m in sys.modules if 'asteroid' in m)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_a_broken_asteroid_adapter_hides_no_other_model(monkeypatch):
    monkeypatch.setitem(sys.modules, "separena_asteroid_adapter", None)  # its import now raises ImportError
    registry = Registry()
    broken = [p for p in registry.plugins.values() if "asteroid-adapter" in p.name]
    assert len(broken) == 1 and broken[0].status == "failed"
    assert "failed at import: ModuleNotFoundError" in broken[0].errors[0]
    assert not [n for n in registry.architectures if n.startswith("asteroid-")]
    assert all(registry.unavailable_reason(n) for n in registry.list_models("asteroid-*"))
    others = [n for n in registry.architectures if registry.unavailable_reason(n) is None]
    assert "mask-inference" in others
    for name in others:
        assert isinstance(tiny_config(name, registry).build(), Separator), name


def test_asteroid_not_installed_marks_only_asteroid_models_unavailable(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "asteroid" else real(name, *a, **k))
    registry = Registry()
    assert registry.unavailable_reason("asteroid-conv-tasnet") == (
        "asteroid not installed (needed by plugin separena-asteroid-adapter[asteroid-adapter])")
    with pytest.raises(SeparenaError, match="unavailable: asteroid not installed"):
        registry.create_model("asteroid-conv-tasnet")
    assert registry.unavailable_reason("mask-inference") is None
    assert isinstance(tiny_config("mask-inference", registry).build(), Separator)
