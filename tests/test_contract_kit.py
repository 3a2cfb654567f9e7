"""The contract kit catches what it says it catches: a model whose framing loses the last sample
of an input of odd length (the kit's inputs have odd lengths, a multiple of no even hop), and
one that fails on a short input deep inside, or names a shortest input it cannot take."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from separena import ArchitectureSpec, ModelConfig
from separena.model import Separator, SeparatorOutput, check_length, check_mix
from separena.testing import check_output_shapes, check_short_inputs


class PairFrames(Separator):
    """Splits the mixture evenly, in frames of two samples: ``[batch, time]`` -> ``[batch, n_src,
    time]``, where an odd input's last sample has no frame unless ``pad`` is set."""

    def __init__(self, n_src: int = 2, sample_rate: int = 8000, pad: bool = False) -> None:
        super().__init__(n_src=n_src, sample_rate=sample_rate)
        self.pad = pad
        self.gain = nn.Parameter(torch.ones(()))

    def forward(self, mix: Tensor) -> SeparatorOutput:
        check_mix(mix)
        length = mix.shape[-1]
        frames = torch.nn.functional.pad(mix, (0, length % 2)) if self.pad else mix[:, : length - length % 2]
        estimates = (self.gain * frames / self.n_src).unsqueeze(1).repeat(1, self.n_src, 1)
        return SeparatorOutput(estimates[..., :length])


def pair_frames(n_src: int = 2, sample_rate: int = 8000, pad: bool = False) -> PairFrames:
    return PairFrames(n_src, sample_rate, pad)


def _config(pad: bool, build: Callable[..., Separator] = pair_frames, **params: Any) -> ModelConfig:
    spec = ArchitectureSpec(name="pair-frames", build=build, family="mask", summary="test model")
    return ModelConfig(name="pair-frames", architecture="pair-frames", params={"pad": pad, **params},
                       objective={"pit-si-sdr": 1.0}, trainable=True, family="mask", tasks=("speech",),
                       plugin="tests", spec=spec)


def test_output_shapes_catches_a_lost_last_sample() -> None:
    with pytest.raises(AssertionError, match=r"pair-frames: estimates shape \(1, 2, 4000\) for input \(1, 4001\)"):
        check_output_shapes(_config(pad=False))
    check_output_shapes(_config(pad=True))  # the same model, padded to whole frames: passes


class Filtered(PairFrames):
    """A 16-sample filter without padding (as a learned encoder), refusing inputs shorter than
    ``stated`` samples (0: no check, the convolution raises)."""

    def __init__(self, pad: bool = True, stated: int = 0) -> None:
        super().__init__(pad=pad)
        self.stated = stated

    def forward(self, mix: Tensor) -> SeparatorOutput:
        check_mix(mix)
        if self.stated:
            check_length(mix.shape[-1], self.stated, "filtered", "its 16-sample filters")
        torch.nn.functional.conv1d(mix.unsqueeze(1), torch.ones(1, 1, 16))  # raises below 16 samples
        return super().forward(mix)


def filtered(pad: bool = True, stated: int = 0) -> Filtered:
    return Filtered(pad, stated)


@pytest.mark.parametrize(("stated", "failure"), [
    (0, r"input of 1 samples raised RuntimeError"),  # the convolution's error reaches the user
    (10, r"input of 10 samples raised RuntimeError"),  # a minimum too low: its own length fails inside
])
def test_short_inputs_catches_an_error_from_inside_and_a_minimum_too_low(stated: int, failure: str) -> None:
    with pytest.raises(AssertionError, match=failure):
        check_short_inputs(_config(True, filtered, stated=stated))
    check_short_inputs(_config(True, filtered, stated=16))  # the true minimum: passes
