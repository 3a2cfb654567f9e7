"""The fixed-order ``usdr`` loss: scale-dependent, so music stems come out at their level."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from separena import Registry, SeparenaError, SeparatorOutput
from separena.losses import si_sdr_loss, usdr_loss
from separena.metrics import usdr


def _loss(est: torch.Tensor, refs: torch.Tensor) -> torch.Tensor:
    return usdr_loss(SeparatorOutput(estimates=est), refs)


def test_usdr_loss_is_registered() -> None:
    assert Registry(entry_points=False).loss("usdr").function() is usdr_loss


def test_usdr_loss_is_the_negative_metric_where_the_floor_is_far_below() -> None:
    # an estimate at about 3 dB: its error is 25 dB above the floor, which moves the loss by 0.02 dB
    torch.manual_seed(0)
    refs = torch.randn(3, 4, 800, dtype=torch.float64)
    est = refs + 0.7 * torch.randn_like(refs)
    assert _loss(est, refs).item() == pytest.approx(-usdr(est, refs).mean().item(), abs=0.05)


def test_usdr_loss_sees_the_level_that_si_sdr_forgives() -> None:
    torch.manual_seed(1)
    refs = torch.randn(2, 4, 800)
    est = refs + 0.1 * torch.randn_like(refs)
    louder = est * torch.tensor([2.0, 1.0, 0.5, 1.0]).view(1, 4, 1)  # two stems at the wrong level
    assert si_sdr_loss(SeparatorOutput(estimates=louder), refs).item() == pytest.approx(
        si_sdr_loss(SeparatorOutput(estimates=est), refs).item(), abs=1e-4)
    assert _loss(louder, refs) > _loss(est, refs) + 5


def test_a_silent_stem_asks_for_a_quiet_estimate_not_an_infinite_ratio() -> None:
    torch.manual_seed(2)
    refs = torch.randn(1, 4, 800)
    refs[:, 0] = 0  # no vocals in this crop
    est = (refs + 0.1 * torch.randn_like(refs)).requires_grad_(True)
    loss = _loss(est, refs)
    (grad,) = torch.autograd.grad(loss, est)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    quieter = est.detach().clone()
    quieter[:, 0] = 0
    assert _loss(quieter, refs) < loss  # silence is the silent stem's best estimate
    assert _loss(torch.zeros(1, 4, 800), torch.zeros(1, 4, 800)).item() == 0.0  # nothing at all: no loss


@settings(max_examples=30, deadline=None)
@given(level=st.floats(1e-6, 1e3), noise=st.floats(0.01, 3.0))
def test_usdr_loss_depends_on_the_ratio_not_on_the_overall_level(level, noise) -> None:
    gen = torch.Generator().manual_seed(3)
    refs = torch.randn(2, 4, 400, generator=gen, dtype=torch.float64)
    est = refs + noise * torch.randn(refs.shape, generator=gen, dtype=torch.float64)
    assert _loss(level * est, level * refs).item() == pytest.approx(_loss(est, refs).item(), abs=1e-9)


def test_usdr_loss_rejects_mismatched_shapes() -> None:
    with pytest.raises(SeparenaError, match=r"^loss usdr: estimates and sources differ in shape; expected "
                                            r"\[1, 4, 10\], got \[1, 2, 10\]$"):
        _loss(torch.zeros(1, 2, 10), torch.zeros(1, 4, 10))
