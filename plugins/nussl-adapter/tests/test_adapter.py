"""nussl adapter: trains through separena's loop, converts AudioSignals, runs classic methods,
and fails in isolation."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from separena import Budget, Registry, SeparenaError, Separator, default_registry
from separena.data import SeparationData, TensorMixtureSet
from separena.testing import tiny_config
from separena.train import train
from separena_nussl_adapter.audio_signal import from_audio_signal, numpy_bool_alias, to_audio_signal

TRAINABLE = ["nussl-mask-inference", "nussl-dpcl", "nussl-chimera", "nussl-open-unmix-like", "nussl-end-to-end",
             "nussl-dual-path"]
CLASSIC = ["nussl-hpss", "nussl-repet-sim", "nussl-rpca", "nussl-timbre-clustering"]


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


@pytest.mark.parametrize("name", TRAINABLE)
def test_one_training_step_changes_every_trainable_parameter(name):
    config = tiny_config(name)
    assert set(config.objective) <= {"pit-si-sdr", "deep-clustering"}  # core losses, never nussl's PIT
    torch.manual_seed(0)  # train() builds under the same seed
    before = {k: p.detach().clone() for k, p in config.build().named_parameters() if p.requires_grad}
    model, result = train(config, _fake_data(), Budget(steps=1, batch_size=2), segment_seconds=0.5,
                          progress=False)
    assert result.steps == 1 and torch.isfinite(torch.tensor(result.losses)).all()
    after = dict(model.named_parameters())
    unchanged = [k for k, p in before.items() if torch.equal(p, after[k].detach())]
    assert not unchanged, f"{name}: parameters unchanged after one step: {unchanged[:5]}"


def test_dpcl_masks_are_a_binary_partition_from_kmeans():
    model = tiny_config("nussl-dpcl").build().eval()
    with torch.no_grad():
        out = model(0.1 * torch.randn(2, 4000))
    assert out.embedding is not None and out.masks.shape[:2] == (2, 2)
    assert torch.equal(out.masks.sum(1), torch.ones_like(out.masks[:, 0]))
    assert set(out.masks.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("shape", [(4000,), (2, 4001)])
def test_audio_signal_round_trip(shape):
    wav = 0.1 * torch.randn(*shape)
    signal = to_audio_signal(wav, 8000, n_fft=256, hop_length=64)
    assert signal.sample_rate == 8000 and signal.stft_params.window_length == 256
    assert signal.stft_params.hop_length == 64
    back = from_audio_signal(signal)
    assert back.dtype == torch.float32 and back.shape == (1 if len(shape) == 1 else shape[0], shape[-1])
    assert torch.allclose(back, wav.reshape(back.shape))


def test_to_audio_signal_rejects_3d():
    with pytest.raises(SeparenaError, match=r"to_audio_signal: expected a real tensor"):
        to_audio_signal(torch.zeros(1, 1, 10), 8000)


def test_numpy_bool_alias_is_scoped():
    assert not hasattr(np, "bool")
    with numpy_bool_alias():
        assert np.bool is np.bool_
    assert not hasattr(np, "bool")


def _tone_and_clicks(length: int = 8000) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.arange(length) / 8000
    tone = 0.3 * torch.sin(2 * torch.pi * 440 * t)
    clicks = torch.zeros(length)
    clicks[::1000] = 1.0
    return tone, clicks


def test_hpss_maps_harmonic_then_percussive():
    tone, clicks = _tone_and_clicks()
    model = default_registry().create_model("nussl-hpss")
    est = model((tone + clicks).unsqueeze(0)).estimates[0]  # [2, T]
    corr = lambda a, b: (torch.dot(a, b) / (a.norm() * b.norm())).item()  # noqa: E731
    assert corr(est[0], tone) > corr(est[0], clicks) and corr(est[1], clicks) > corr(est[1], tone)
    assert torch.allclose(est.sum(0), tone + clicks, atol=1e-3)  # soft masks sum to one


@pytest.mark.parametrize("name", CLASSIC)
def test_classic_models_are_untrained_and_return_n_src_estimates(name):
    config = tiny_config(name)
    model, result = train(config, _fake_data(), Budget(steps=1), progress=False)
    assert result.stopped_by == "untrained" and not list(model.parameters())
    with torch.no_grad():
        est = model(0.1 * torch.randn(2, 4001)).estimates
    assert est.shape == (2, config.params["n_src"], 4001) and torch.isfinite(est).all()


def test_fixed_pair_methods_reject_other_n_src():
    with pytest.raises(SeparenaError, match=r"nussl-hpss: n_src is fixed by the method .* expected 2, got 3"):
        default_registry().create_model("nussl-hpss", n_src=3)


def test_listing_models_does_not_import_nussl():
    code = ("import sys, separena; names = separena.list_models('nussl-*'); "
            "assert names and 'nussl' not in sys.modules, sorted(m for m in sys.modules if 'nussl' in m)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_a_broken_nussl_adapter_hides_no_other_model(monkeypatch):
    monkeypatch.setitem(sys.modules, "separena_nussl_adapter", None)  # its import now raises ImportError
    registry = Registry()
    broken = [p for p in registry.plugins.values() if "nussl-adapter" in p.name]
    assert len(broken) == 1 and broken[0].status == "failed"
    assert "failed at import: ModuleNotFoundError" in broken[0].errors[0]
    assert not [n for n in registry.architectures if n.startswith("nussl-")]
    assert all(registry.unavailable_reason(n) for n in registry.list_models("nussl-*"))
    others = [n for n in registry.architectures if registry.unavailable_reason(n) is None]
    assert "mask-inference" in others
    for name in others:
        assert isinstance(tiny_config(name, registry).build(), Separator), name


def test_nussl_not_installed_marks_only_nussl_models_unavailable(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "nussl" else real(name, *a, **k))
    registry = Registry()
    assert registry.unavailable_reason("nussl-hpss") == (
        "nussl not installed (needed by plugin separena-nussl-adapter[nussl-adapter])")
    with pytest.raises(SeparenaError, match="unavailable: nussl not installed"):
        registry.create_model("nussl-mask-inference")
    assert registry.unavailable_reason("mask-inference") is None
    assert isinstance(tiny_config("mask-inference", registry).build(), Separator)
