"""Reading and writing WAV files, with one-line errors for every way a file can be wrong.

- :func:`read_wav` returns a float32 ``[time]`` tensor (or ``[channels, time]`` with
  ``mono=False``). With ``mono=True`` a multichannel file is **averaged** to one channel.
  No resampling happens, ever: a file at another rate than the one asked for is an error.
- :func:`write_wav` writes 16-bit PCM, clipping to ``[-1, 1]``, atomically (a temporary file
  in the same folder, then :func:`os.replace`), so a reader never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import Tensor

from ..errors import AudioFileError

__all__ = ["read_wav", "write_wav", "audio_info"]


def audio_info(path: str | os.PathLike[str]) -> tuple[int, int, int]:
    """``(sample_rate, channels, frames)`` of an audio file, without reading its samples."""
    p = Path(path)
    if not p.is_file():
        raise AudioFileError(f"{p}: no such audio file")
    try:
        info = sf.info(str(p))
    except Exception as exc:  # libsndfile raises several types; all mean "unreadable"
        raise AudioFileError(f"{p}: unreadable audio file; {_reason(exc)}") from None
    return int(info.samplerate), int(info.channels), int(info.frames)


def read_wav(path: str | os.PathLike[str], sample_rate: int | None = None, *, mono: bool = True) -> Tensor:
    """Read an audio file as float32 in ``[-1, 1]``.

    Args:
        path: a WAV (or any format libsndfile reads) file.
        sample_rate: the rate the caller expects; a file at another rate raises
            :class:`AudioFileError` (no silent resampling). ``None`` accepts any rate.
        mono: average all channels into one and return ``[time]``; with ``False`` return
            ``[channels, time]`` (``[1, time]`` for a mono file).

    Raises:
        AudioFileError: missing, unreadable, corrupt or truncated file, no samples,
            non-finite samples, or a sample rate other than ``sample_rate``.
    """
    p = Path(path)
    if not p.exists():
        raise AudioFileError(f"{p}: no such audio file")
    if not p.is_file():
        raise AudioFileError(f"{p}: not a file")
    try:
        with sf.SoundFile(str(p)) as f:
            rate, frames = int(f.samplerate), int(f.frames)
            if sample_rate is not None and rate != sample_rate:
                raise AudioFileError(
                    f"{p}: wrong sample rate; expected {sample_rate} Hz, got {rate} Hz (resample it first)"
                )
            data = f.read(dtype="float32", always_2d=True)
    except AudioFileError:
        raise
    except Exception as exc:
        raise AudioFileError(f"{p}: unreadable audio file; {_reason(exc)}") from None
    if data.shape[0] == 0:
        raise AudioFileError(f"{p}: empty audio; expected at least 1 sample, got 0")
    short = _wav_shortfall(p)
    if short is not None:
        raise AudioFileError(f"{p}: truncated audio file; expected {short[0]} bytes of samples, got {short[1]}")
    if data.shape[0] < frames:
        raise AudioFileError(f"{p}: truncated audio file; expected {frames} frames, got {data.shape[0]}")
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise AudioFileError(f"{p}: {bad} non-finite (NaN or inf) samples; expected finite audio")
    wav = torch.from_numpy(np.ascontiguousarray(data.T))  # [channels, time]
    return wav.mean(0) if mono else wav


def write_wav(path: str | os.PathLike[str], wav: Tensor | np.ndarray, sample_rate: int) -> Path:
    """Write ``wav`` (``[time]`` or ``[channels, time]``, float in ``[-1, 1]``) as 16-bit PCM.

    Values outside ``[-1, 1]`` are clipped. The file appears atomically: it is written to a
    temporary file in the same folder and moved into place with :func:`os.replace`.
    Parent folders are created. Returns the path written.
    """
    p = Path(path)
    x = wav.detach().cpu().numpy() if isinstance(wav, Tensor) else np.asarray(wav)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] == 0:
        raise AudioFileError(f"{p}: cannot write audio of shape {tuple(x.shape)}; expected [time] or [channels, time]")
    if not np.isfinite(x).all():
        raise AudioFileError(f"{p}: refusing to write non-finite (NaN or inf) samples")
    pcm = np.round(np.clip(x.astype(np.float64), -1.0, 1.0) * 32767.0).astype(np.int16).T  # [time, channels]
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.close(fd)
    try:
        sf.write(tmp, pcm, int(sample_rate), subtype="PCM_16", format="WAV")
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def _wav_shortfall(path: Path) -> tuple[int, int] | None:
    """For a RIFF/WAVE file whose ``data`` chunk declares more bytes than the file holds,
    ``(declared, present)``; else ``None``. (libsndfile reads such files without complaint.)"""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        size = os.fstat(f.fileno()).st_size
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk = f.read(8)
            n = int.from_bytes(chunk[4:8], "little")
            if chunk[:4] == b"data":
                present = size - pos - 8
                if n in (0, 0xFFFFFFFF, 0x7FFFFFFF) or n > 0x7FFF0000:  # streamed: size unknown
                    return None
                return (n, present) if present < n else None
            pos += 8 + n + (n & 1)
    return None


def _reason(exc: BaseException) -> str:
    """One line describing a libsndfile error."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
