"""nussl adapter: trains through separena's loop, converts AudioSignals, runs classic methods,
and fails in isolation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from separena import Budget, SeparenaError, default_registry
from separena.blocks import kmeans
from separena.data.tones import tones_2mix
from separena.testing import tiny_config
from separena.train import train
from separena_nussl_adapter.audio_signal import (
    from_audio_signal,
    numpy_bool_alias,
    to_audio_signal,
)

TRAINABLE = ["nussl-mask-inference", "nussl-dpcl", "nussl-chimera", "nussl-open-unmix-like", "nussl-end-to-end",
             "nussl-dual-path"]
CLASSIC = ["nussl-hpss", "nussl-repet-sim", "nussl-rpca", "nussl-timbre-clustering"]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def test_dpcl_masks_are_soft_kmeans_responsibilities():
    torch.manual_seed(0)
    model = tiny_config("nussl-dpcl").build().eval()
    mix = 0.1 * torch.randn(2, 4000)
    with torch.no_grad():
        out = model(mix)
    assert out.embedding is not None and out.masks.shape[:2] == (2, 2)
    assert torch.allclose(out.masks.sum(1), torch.ones_like(out.masks[:, 0]), atol=1e-6)
    assert out.masks.min() >= 0 and out.masks.max() <= 1 and ((out.masks > 0.01) & (out.masks < 0.99)).any()
    # Each bin's larger mask is its k-means cluster (fitted with magnitude weights, as nussl).
    batch, frames, freq, dim = out.embedding.shape
    mag = model.transform(mix).abs().reshape(batch, -1)
    labels, _ = kmeans(out.embedding.reshape(batch, -1, dim), 2, mag)
    masks = out.masks.reshape(batch, 2, -1)
    decided = (masks[:, 0] - masks[:, 1]).abs() > 1e-4  # near-ties may round either way
    assert decided.float().mean() > 0.9
    assert (masks.argmax(1) != labels)[decided].float().mean() < 1e-3


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
    model, result = train(config, tones_2mix(), Budget(steps=1), progress=False)
    assert result.stopped_by == "untrained" and not list(model.parameters())
    with torch.no_grad():
        est = model(0.1 * torch.randn(2, 4001)).estimates
    assert est.shape == (2, config.params["n_src"], 4001) and torch.isfinite(est).all()


def test_fixed_pair_methods_reject_other_n_src():
    with pytest.raises(SeparenaError, match=r"nussl-hpss: n_src is fixed by the method .* expected 2, got 3"):
        default_registry().create_model("nussl-hpss", n_src=3)
