"""The unprocessed mixture as every source estimate: the floor of every leaderboard.

Its SI-SDR improvement is 0 dB by definition, so a model that scores below it makes things
worse than doing nothing. It needs no references and has no parameters to learn.

References:
    Le Roux et al., "SDR - half-baked or well done?", ICASSP 2019 (SI-SDR and its improvement).
"""

from __future__ import annotations

from torch import Tensor

from separena import Separator, SeparatorOutput
from separena.model import check_mix

__all__ = ["Mixture", "mixture"]


class Mixture(Separator):
    """Copy the mixture to every source.

    Shapes:
        mix ``[batch, time]`` -> estimates ``[batch, n_src, time]``.
    """

    def forward(self, mix: Tensor) -> SeparatorOutput:
        check_mix(mix)
        return SeparatorOutput(estimates=mix.unsqueeze(1).repeat(1, self.n_src, 1))  # [B, T] -> [B, S, T]


def mixture(n_src: int = 2, sample_rate: int = 8000) -> Mixture:
    """The unprocessed-mixture baseline.

    Args:
        n_src: number of sources (copies of the mixture).
        sample_rate: sample rate in Hz.
    """
    return Mixture(n_src=n_src, sample_rate=sample_rate)
