"""The adapter: any asteroid waveform-to-waveform model as a separena :class:`Separator`.

asteroid's ``BaseModel.forward`` silently accepts 1-D, 2-D or 3-D input and reshapes its
output to match; separena's contract is stricter. The wrapper takes only ``[batch, time]``
(:func:`separena.model.check_mix`), feeds asteroid its ``[batch, 1, time]`` layout, and pads or
trims the estimates to the input length (asteroid pads to a multiple of its stride internally).

This module imports nothing from asteroid, so it is cheap to import.
"""

from __future__ import annotations

from torch import Tensor, nn

from separena import SeparenaError, Separator, SeparatorOutput
from separena.model import check_length, check_mix, fit_length

__all__ = ["AsteroidSeparator"]


class AsteroidSeparator(Separator):
    """Wraps a built asteroid model whose ``forward`` maps waveforms to source waveforms.

    Args:
        model: the asteroid model (``asteroid.models.BaseModel`` subclass).
        n_src: number of sources the model estimates.
        sample_rate: Hz.
        name: architecture name, for error messages.
        min_length: the shortest input the asteroid model takes, in samples (shorter ones are
            refused in one line rather than by a convolution deep inside asteroid).
        needs: what sets that minimum, for the message.

    Shapes:
        mix ``[batch, time]`` -> estimates ``[batch, n_src, time]`` (same ``time``).
    """

    def __init__(self, model: nn.Module, n_src: int, sample_rate: int, name: str, min_length: int = 1,
                 needs: str = "") -> None:
        super().__init__(n_src=n_src, sample_rate=sample_rate)
        self.model = model
        self.name = name
        self.min_length, self.needs = min_length, needs

    def forward(self, mix: Tensor) -> SeparatorOutput:
        check_mix(mix)
        check_length(mix.shape[-1], self.min_length, self.name, self.needs, self.sample_rate)
        est = self.model(mix.unsqueeze(1))  # [B, T] -> [B, 1, T] -> [B, S, T']
        if est.dim() != 3 or est.shape[:2] != (mix.shape[0], self.n_src):
            raise SeparenaError(f"{self.name}: asteroid returned estimates of shape {list(est.shape)}; "
                                f"expected [{mix.shape[0]}, {self.n_src}, time]")
        return SeparatorOutput(estimates=fit_length(est, mix.shape[-1]))
