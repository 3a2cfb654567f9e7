"""Conversion between torch waveforms and ``nussl.AudioSignal`` (nussl is imported lazily)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from separena import SeparenaError

if TYPE_CHECKING:
    import nussl

__all__ = ["to_audio_signal", "from_audio_signal", "numpy_bool_alias"]


def to_audio_signal(tensor: Tensor, sample_rate: int, n_fft: int | None = None,
                    hop_length: int | None = None) -> nussl.AudioSignal:
    """A ``nussl.AudioSignal`` holding a copy of ``tensor`` (float64 numpy, on the CPU).

    Args:
        tensor: the waveform.
        sample_rate: Hz.
        n_fft: STFT window length nussl uses for this signal (nussl's default if None).
        hop_length: STFT hop (nussl's default, ``n_fft // 4``, if None).

    Shapes:
        ``[time]`` or ``[channels, time]`` -> a signal of ``channels`` (1 for ``[time]``) channels.

    Raises:
        SeparenaError: for a tensor that is not 1-D or 2-D real floating point.
    """
    import nussl

    if not isinstance(tensor, Tensor) or tensor.dim() not in (1, 2) or not tensor.is_floating_point():
        got = list(tensor.shape) if isinstance(tensor, Tensor) else type(tensor).__name__
        raise SeparenaError(f"to_audio_signal: expected a real tensor [time] or [channels, time], got {got}")
    data = tensor.detach().cpu().to(torch.float64).numpy()
    stft_params = None
    if n_fft is not None:
        stft_params = nussl.STFTParams(window_length=n_fft, hop_length=hop_length or n_fft // 4)
    return nussl.AudioSignal(audio_data_array=np.atleast_2d(data), sample_rate=sample_rate,
                             stft_params=stft_params)


def from_audio_signal(signal: nussl.AudioSignal) -> Tensor:
    """The waveform of a ``nussl.AudioSignal`` as a float32 tensor.

    Shapes:
        a signal of ``channels`` channels -> ``[channels, time]``.
    """
    if signal.audio_data is None:
        raise SeparenaError("from_audio_signal: the AudioSignal has no audio_data; expected a waveform, got None")
    return torch.from_numpy(np.ascontiguousarray(signal.audio_data, dtype=np.float32))


@contextlib.contextmanager
def numpy_bool_alias() -> Iterator[None]:
    """Provide ``numpy.bool`` (as ``numpy.bool_``) for the duration of a nussl call.

    nussl 1.1.9's ``BinaryMask`` tests ``dtype == np.bool``, an alias numpy 1.24 removed (and
    numpy 2 restored as ``np.bool_``); the project pins numpy < 2, so every nussl separator that
    builds a binary mask (all that use a high-pass cutoff) fails without it. The alias is set
    only if missing and removed again afterwards.
    """
    if hasattr(np, "bool"):
        yield
        return
    np.bool = np.bool_  # type: ignore[attr-defined]
    try:
        yield
    finally:
        del np.bool  # type: ignore[attr-defined]
