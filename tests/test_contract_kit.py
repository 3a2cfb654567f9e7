"""The contract kit catches what it says it catches: here, a model whose framing loses the last
sample of an input of odd length (the kit's inputs have odd lengths, a multiple of no even hop)."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from separena import ArchitectureSpec, ModelConfig
from separena.model import Separator, SeparatorOutput, check_mix
from separena.testing import check_output_shapes


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


def _config(pad: bool) -> ModelConfig:
    spec = ArchitectureSpec(name="pair-frames", build=pair_frames, family="mask", summary="test model")
    return ModelConfig(name="pair-frames", architecture="pair-frames", params={"pad": pad},
                       objective={"pit-si-sdr": 1.0}, trainable=True, family="mask", tasks=("speech",),
                       plugin="tests", spec=spec)


def test_output_shapes_catches_a_lost_last_sample() -> None:
    with pytest.raises(AssertionError, match=r"pair-frames: estimates shape \(1, 2, 4000\) for input \(1, 4001\)"):
        check_output_shapes(_config(pad=False))
    check_output_shapes(_config(pad=True))  # the same model, padded to whole frames: passes
