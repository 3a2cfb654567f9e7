"""The fixed-order ``si-sdr`` loss (music stems have roles: no permutation)."""

from __future__ import annotations

import pytest
import torch

from separena import Registry, SeparenaError, SeparatorOutput
from separena.losses import pit_si_sdr, si_sdr_loss
from separena.metrics import si_sdr


def test_si_sdr_loss_is_registered() -> None:
    assert Registry(entry_points=False).loss("si-sdr").function() is si_sdr_loss


def test_si_sdr_loss_is_the_mean_negative_si_sdr_in_order() -> None:
    torch.manual_seed(0)
    refs = torch.randn(3, 4, 800)
    est = refs + 0.3 * torch.randn_like(refs)
    loss = si_sdr_loss(SeparatorOutput(estimates=est), refs)
    assert torch.allclose(loss, -si_sdr(est, refs).mean())
    assert loss < -5


def test_si_sdr_loss_does_not_permute() -> None:
    torch.manual_seed(1)
    refs = torch.randn(2, 2, 800)
    swapped = SeparatorOutput(estimates=refs.flip(1))
    assert pit_si_sdr(swapped, refs) < -50  # PIT forgives the swap
    assert si_sdr_loss(swapped, refs) > 0  # the fixed-order loss does not


def test_si_sdr_loss_rejects_mismatched_shapes() -> None:
    with pytest.raises(SeparenaError, match=r"^loss si-sdr: estimates and sources differ in shape; expected "
                                            r"\[1, 4, 10\], got \[1, 2, 10\]$"):
        si_sdr_loss(SeparatorOutput(estimates=torch.zeros(1, 2, 10)), torch.zeros(1, 4, 10))


@pytest.mark.parametrize("loss", [si_sdr_loss, pit_si_sdr])
def test_si_sdr_losses_do_not_depend_on_the_level(loss) -> None:
    # they share the metric's relative energy guard: before, at level 1e-6 the fixed 1e-8 guard
    # pulled a 20 dB estimate towards 0 dB, and training on quiet data saw a different loss
    torch.manual_seed(2)
    refs = torch.randn(2, 2, 8000)
    est = refs + 0.1 * torch.randn_like(refs)
    loud = loss(SeparatorOutput(estimates=est), refs)
    for level in (1e-3, 1e-6):
        quiet = loss(SeparatorOutput(estimates=level * est), level * refs)
        assert quiet.item() == pytest.approx(loud.item(), abs=2e-3)  # float32 rounding of level * x
