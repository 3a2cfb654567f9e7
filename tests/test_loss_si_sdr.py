"""The fixed-order ``si-sdr`` loss (music stems have roles: no permutation)."""

from __future__ import annotations

import pytest
import torch

from separena import Registry, SeparenaError, SeparatorOutput
from separena.losses import pit_si_sdr, si_sdr_loss, usdr_loss
from separena.metrics import si_sdr


def test_si_sdr_loss_is_registered() -> None:
    assert Registry(entry_points=False).loss("si-sdr").function() is si_sdr_loss


def test_si_sdr_loss_is_the_mean_negative_si_sdr_in_order() -> None:
    torch.manual_seed(0)
    refs = torch.randn(3, 4, 800)
    est = refs + 0.3 * torch.randn_like(refs)  # about 10 dB: the floor, 30 dB down, moves it by 0.04 dB
    loss = si_sdr_loss(SeparatorOutput(estimates=est), refs)
    assert abs(loss - -si_sdr(est, refs).mean()) < 0.05
    assert loss < -5


def _shrunk_and_inverted(refs: torch.Tensor, scale: float) -> torch.Tensor:
    """``scale * refs`` plus noise orthogonal to each reference at a tenth of its norm."""
    noise = torch.randn(refs.shape, generator=torch.Generator().manual_seed(3))
    noise = noise - (noise * refs).sum(-1, keepdim=True) / refs.square().sum(-1, keepdim=True) * refs
    return scale * refs + 0.1 * noise * refs.norm(dim=-1, keepdim=True) / noise.norm(dim=-1, keepdim=True)


def test_an_inverted_estimate_scores_as_silence_and_the_score_is_continuous_at_zero() -> None:
    torch.manual_seed(4)
    refs = torch.randn(2, 4, 4000)
    assert si_sdr(-refs, refs).min() > 100  # the metric forgives the polarity
    inverted = si_sdr_loss(SeparatorOutput(estimates=-refs), refs)
    assert inverted.item() == pytest.approx(30.0, abs=0.01)  # the floor: silence's score
    near_zero = [si_sdr_loss(SeparatorOutput(estimates=_shrunk_and_inverted(refs, a)), refs).item()
                 for a in (-1e-4, 0.0, 1e-4)]
    assert max(near_zero) - min(near_zero) < 0.01


def test_the_stem_objective_turns_an_inverted_stem_around() -> None:
    # A stem inverted and shrunk 26 dB, where Hybrid Demucs's vocals stopped: along the source,
    # the metric's SI-SDR pushed the scale further below zero (as 1 / scale) harder than uSDR
    # pulled it up; this loss lets uSDR turn it around.
    torch.manual_seed(5)
    refs = torch.randn(2, 4, 4000)

    def along_source(loss) -> float:
        est = _shrunk_and_inverted(refs, -0.05).requires_grad_(True)
        (grad,) = torch.autograd.grad(loss(est), est)
        return (grad * refs).sum().item()  # d loss / d scale: negative means the scale grows

    usdr_term = lambda est: usdr_loss(SeparatorOutput(estimates=est), refs)  # noqa: E731
    assert along_source(lambda est: -si_sdr(est, refs).mean() + usdr_term(est)) > 0  # stuck
    assert along_source(lambda est: si_sdr_loss(SeparatorOutput(estimates=est), refs) + usdr_term(est)) < 0


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
