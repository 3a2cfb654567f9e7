"""LogMagnitudeFeatures and build_norm (separena.blocks.features)."""

from __future__ import annotations

import pytest
import torch

from separena import SeparenaError
from separena.blocks import InstanceNorm, LogMagnitude, LogMagnitudeFeatures, Magnitude, build_norm


def test_equals_log_of_magnitude_without_the_square_root():
    spec = torch.randn(2, 7, 5, dtype=torch.complex64)
    spec[0, 0, 0] = 0
    want = LogMagnitude()(Magnitude(eps=0.0)(spec))
    torch.testing.assert_close(LogMagnitudeFeatures(5, norm="none")(spec), want)
    assert LogMagnitudeFeatures(5, norm="none")(spec)[0, 0, 0].item() == pytest.approx(-80.0)


def test_instance_norm_applied_and_gradient_finite_on_silence():
    spec = torch.randn(2, 7, 5, dtype=torch.complex64)
    torch.testing.assert_close(LogMagnitudeFeatures(5)(spec), InstanceNorm()(LogMagnitudeFeatures(5, "none")(spec)))
    silence = torch.zeros(1, 4, 5, dtype=torch.complex64, requires_grad=True)
    LogMagnitudeFeatures(5, "learned")(silence).sum().backward()
    assert torch.isfinite(torch.view_as_real(silence.grad)).all()


def test_build_norm_kinds():
    assert sum(p.numel() for p in build_norm("batch", 5).parameters()) == 10
    assert sum(p.numel() for p in build_norm("learned", 5).parameters()) == 10
    assert isinstance(build_norm("none", 5), torch.nn.Identity)
    with pytest.raises(SeparenaError, match="norm: unknown normalisation; expected one of batch"):
        build_norm("layer", 5)  # type: ignore[arg-type]
