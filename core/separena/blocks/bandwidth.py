"""Bandwidth limiting: keep only the frequency bins below a cut-off (Open-Unmix's ``max_bin``)."""

from __future__ import annotations

from torch import Tensor, nn

from ..errors import SeparenaError

__all__ = ["LimitBandwidth", "bandwidth_to_max_bin"]


def bandwidth_to_max_bin(sample_rate: int, n_fft: int, bandwidth_hz: float) -> int:
    """Number of STFT bins whose centre frequency is at most ``bandwidth_hz``.

    Bin ``k`` of an ``n_fft``-point STFT is centred on ``k * sample_rate / n_fft`` Hz, so this
    is ``floor(bandwidth_hz * n_fft / sample_rate) + 1``, capped at ``n_fft // 2 + 1`` (a
    bandwidth at or above Nyquist keeps every bin).

    Raises:
        SeparenaError: ``bandwidth_hz`` is not positive.
    """
    if not bandwidth_hz > 0:
        raise SeparenaError(f"bandwidth_hz: expected a positive frequency in Hz, got {bandwidth_hz!r}")
    return min(int(bandwidth_hz * n_fft / sample_rate) + 1, n_fft // 2 + 1)


class LimitBandwidth(nn.Module):
    """Crop the last (frequency) axis to its first ``max_bin`` bins.

    Args:
        max_bin: bins kept (see :func:`bandwidth_to_max_bin`).

    Shapes:
        ``[..., freq]`` -> ``[..., min(max_bin, freq)]``.
    """

    def __init__(self, max_bin: int) -> None:
        super().__init__()
        if max_bin < 1:
            raise SeparenaError(f"max_bin: expected a positive number of bins, got {max_bin!r}")
        self.max_bin = max_bin

    def forward(self, x: Tensor) -> Tensor:
        return x[..., : self.max_bin]

    def extra_repr(self) -> str:
        return f"max_bin={self.max_bin}"
