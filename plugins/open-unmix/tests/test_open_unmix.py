"""What the contract kit cannot see: the Wiener post-filter (eval mode), sharing, band limits."""

from __future__ import annotations

import torch

from separena_open_unmix.model import open_unmix

TINY = dict(n_src=3, sample_rate=8000, n_fft=64, hop_length=16, bandwidth_hz=2000.0, hidden_size=4, num_layers=1)


def _run(model, mix):
    with torch.no_grad():
        return model.eval()(mix)


def test_wiener_post_filter_changes_eval_output_and_keeps_the_mixture() -> None:
    torch.manual_seed(0)
    plain = open_unmix(**TINY, mask_activation="sigmoid")  # every mask > 0: no bin is dropped
    wiener = open_unmix(**TINY, mask_activation="sigmoid", wiener_iterations=2)
    wiener.load_state_dict(plain.state_dict())
    mix = 0.1 * torch.randn(2, 4000)
    a, b = _run(plain, mix), _run(wiener, mix)
    assert b.estimates.shape == a.estimates.shape == (2, 3, 4000)
    assert not torch.allclose(a.estimates, b.estimates)
    assert torch.allclose(b.estimates.sum(1), mix, atol=1e-3)  # Wiener estimates add up to the mixture
    assert torch.isfinite(_run(wiener, torch.zeros(1, 4000)).estimates).all()
    wiener.train()
    assert torch.equal(wiener(mix).estimates, plain.train()(mix).estimates)  # training: plain masks


def test_shared_trunk_has_one_network_with_a_per_source_output() -> None:
    separate, shared = open_unmix(**TINY), open_unmix(**TINY, shared=True)
    assert len(separate.masker.networks) == 3 and len(shared.masker.networks) == 1
    assert shared.masker.networks[0].fc3.out_features == 3 * 33
    assert sum(p.numel() for p in shared.parameters()) < sum(p.numel() for p in separate.parameters())


def test_bandwidth_limits_the_input_but_masks_cover_every_bin() -> None:
    model = open_unmix(**TINY)  # 8 kHz, 64-point STFT: 125 Hz per bin, 2 kHz -> 17 bins
    assert model.masker.networks[0].fc1.in_features == 17
    out = _run(model, 0.1 * torch.randn(1, 2000))
    assert out.masks.shape[-1] == 33 and (out.masks >= 0).all()
