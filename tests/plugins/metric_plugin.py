"""A plugin that registers one metric: the estimate's level relative to its reference, in dB."""

from __future__ import annotations

import torch
from torch import Tensor

from separena import hookimpl
from separena.specs import MetricSpec


def level_ratio(estimates: Tensor, references: Tensor, sample_rate: int) -> Tensor:
    """``[n_src, time]`` x2 -> ``[n_src]``: 10 log10 of the estimate's energy over the reference's."""
    return 10 * torch.log10(estimates.square().sum(-1).clamp_min(1e-12) / references.square().sum(-1).clamp_min(1e-12))


@hookimpl
def separena_register_metrics() -> list[MetricSpec]:
    return [MetricSpec("level-ratio", level_ratio, "estimate level over reference level", label="Level",
                       unit="dB", higher_is_better=False)]
