"""Reading and writing WAV files, with one-line errors for every way a file can be wrong.

- :func:`read_wav` returns a float32 ``[time]`` tensor (or ``[channels, time]`` with
  ``mono=False``). With ``mono=True`` a multichannel file is **averaged** to one channel.
  A file at another rate than the one asked for is an error, unless ``resample=True``: then
  it is resampled with soxr (high quality, linear phase). Nothing is ever resampled silently.
- :func:`write_wav` writes 16-bit PCM, clipping to ``[-1, 1]`` (or, with ``float32=True``,
  32-bit float samples as they are), atomically (a temporary file in the same folder, then
  :func:`os.replace`), so a reader never sees half a file. The file gets the mode a plain
  ``open()`` would give it: ``0o666`` less the process umask.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch import Tensor

from ..errors import AudioFileError

__all__ = ["read_wav", "write_wav", "audio_info", "resample_audio", "describe_file"]

_UNRECOGNISED = 1  # libsndfile's SF_ERR_UNRECOGNISED_FORMAT


def audio_info(path: str | os.PathLike[str]) -> tuple[int, int, int]:
    """``(sample_rate, channels, frames)`` of an audio file, without reading its samples."""
    p = Path(path)
    if not p.is_file():
        raise AudioFileError(f"{p}: no such audio file")
    _check_not_empty(p)
    try:
        info = sf.info(str(p))
    except Exception as exc:  # libsndfile raises several types; all mean "unreadable"
        raise _unreadable(p, exc) from None
    return int(info.samplerate), int(info.channels), int(info.frames)


def read_wav(path: str | os.PathLike[str], sample_rate: int | None = None, *, mono: bool = True,
             resample: bool = False) -> Tensor:
    """Read an audio file as float32 in ``[-1, 1]``.

    Args:
        path: a WAV (or any format libsndfile reads) file.
        sample_rate: the rate the caller expects; a file at another rate raises
            :class:`AudioFileError` unless ``resample`` is true. ``None`` accepts any rate.
        mono: average all channels into one and return ``[time]``; with ``False`` return
            ``[channels, time]`` (``[1, time]`` for a mono file).
        resample: convert a file at another rate to ``sample_rate`` (:func:`resample_audio`: soxr,
            high quality). The result has ``round(frames * sample_rate / rate)`` samples and
            may overshoot ``[-1, 1]`` slightly near full-scale transients (not clipped).

    Raises:
        AudioFileError: missing, empty (0 bytes), not audio, unreadable, corrupt or truncated
            file, no samples, non-finite samples, or (without ``resample``) a sample rate
            other than ``sample_rate``.
    """
    p = Path(path)
    if not p.exists():
        raise AudioFileError(f"{p}: no such audio file")
    if not p.is_file():
        raise AudioFileError(f"{p}: not a file")
    _check_not_empty(p)
    try:
        with sf.SoundFile(str(p)) as f:
            rate, frames = int(f.samplerate), int(f.frames)
            if sample_rate is not None and rate != sample_rate and not resample:
                raise AudioFileError(f"{p}: wrong sample rate; expected {sample_rate} Hz, got {rate} Hz "
                                     f"(pass --resample to convert it)")
            data = f.read(dtype="float32", always_2d=True)
    except AudioFileError:
        raise
    except Exception as exc:
        raise _unreadable(p, exc) from None
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
    if sample_rate is not None and rate != sample_rate:
        data = resample_audio(data, rate, sample_rate)
    wav = torch.from_numpy(np.ascontiguousarray(data.T))  # [channels, time]
    return wav.mean(0) if mono else wav


def resample_audio(data: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample float32 ``[time]`` or ``[time, channels]`` audio with soxr (quality "HQ").

    The output has ``round(time * to_rate / from_rate)`` frames (soxr's length), float32.
    """
    import soxr  # a core dependency; imported here so reading without resampling never needs it

    if from_rate <= 0 or to_rate <= 0:
        raise AudioFileError(f"resample: expected positive sample rates, got {from_rate} Hz -> {to_rate} Hz")
    if from_rate == to_rate:
        return np.asarray(data, dtype=np.float32)
    return soxr.resample(np.ascontiguousarray(data, dtype=np.float32), from_rate, to_rate, quality="HQ")


def write_wav(path: str | os.PathLike[str], wav: Tensor | np.ndarray, sample_rate: int, *,
              float32: bool = False) -> Path:
    """Write ``wav`` (``[time]`` or ``[channels, time]``, float in ``[-1, 1]``) as 16-bit PCM.

    Values outside ``[-1, 1]`` are clipped; with ``float32`` the samples are written as 32-bit
    float WAV, as they are (nothing clipped). The file appears atomically: it is written to a
    temporary file in the same folder and moved into place with :func:`os.replace`. Its mode is
    ``0o666`` less the process umask (``0o644`` under the usual umask 022), as for any file a
    program creates. Parent folders are created. Returns the path written.
    """
    p = Path(path)
    x = wav.detach().cpu().numpy() if isinstance(wav, Tensor) else np.asarray(wav)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] == 0:
        raise AudioFileError(f"{p}: cannot write audio of shape {tuple(x.shape)}; expected [time] or [channels, time]")
    if not np.isfinite(x).all():
        raise AudioFileError(f"{p}: refusing to write non-finite (NaN or inf) samples")
    if float32:
        samples, subtype = x.astype(np.float32).T, "FLOAT"  # [time, channels]
    else:
        samples, subtype = np.round(np.clip(x.astype(np.float64), -1.0, 1.0) * 32767.0).astype(np.int16).T, "PCM_16"
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp creates 0600; give the file a normal mode
    finally:
        os.close(fd)
    try:
        sf.write(tmp, samples, int(sample_rate), subtype=subtype, format="WAV")
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


_umask_lock = threading.Lock()


def _umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux), else by
    setting and restoring it under a lock."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def describe_file(path: str | os.PathLike[str]) -> str:
    """What a file looks like from its first bytes, as a phrase: ``"a RIFF/WAVE audio file"``,
    ``"a zip archive"``, ``"a text file"``, ``"an empty file"``, ... (for error messages)."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as exc:
        return f"an unreadable file ({exc.strerror or type(exc).__name__})"
    if not head:
        return "an empty file"
    magic = [
        (b"RIFF", "a RIFF/WAVE audio file" if head[8:12] == b"WAVE" else "a RIFF file"),
        (b"RF64", "an RF64/WAVE audio file"), (b"FORM", "an AIFF audio file"), (b"fLaC", "a FLAC audio file"),
        (b"OggS", "an Ogg audio file"), (b"ID3", "an MP3 audio file"), (b"\xff\xfb", "an MP3 audio file"),
        (b"\xff\xf3", "an MP3 audio file"), (b"\xff\xf2", "an MP3 audio file"),
        (b"PK\x03\x04", "a zip archive (a torch checkpoint?)"), (b"PK\x05\x06", "an empty zip archive"),
        (b"\x80\x02\x8a\x0a", "a legacy torch checkpoint"), (b"\x80", "a Python pickle"),
        (b"\x1f\x8b", "a gzip archive"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
        (b"%PDF", "a PDF document"), (b"\x7fELF", "an executable"), (b"\x93NUMPY", "a NumPy array file"),
    ]
    for prefix, what in magic:
        if head.startswith(prefix):
            return what
    if len(head) >= 8 and head[4:8] == b"ftyp":
        return "an MP4/M4A media file"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = None
        if len(head) == 512:  # a multi-byte character may be cut at the end
            try:
                text = head[:-3].decode("utf-8")
            except UnicodeDecodeError:
                pass
    if text is not None and all(c.isprintable() or c in "\t\r\n\f" for c in text):
        return "a text file"
    return f"binary data of unknown format (first bytes {head[:8].hex()})"


def _check_not_empty(p: Path) -> None:
    if p.stat().st_size == 0:
        raise AudioFileError(f"{p}: empty file (0 bytes); expected a wav file")


def _unreadable(p: Path, exc: BaseException) -> AudioFileError:
    """The one-line error for a file libsndfile cannot open or read."""
    if getattr(exc, "code", None) == _UNRECOGNISED:
        return AudioFileError(f"{p}: unreadable audio file (not in a format libsndfile reads); "
                              f"expected a wav file, got {describe_file(p)}")
    return AudioFileError(f"{p}: unreadable audio file; {_reason(exc)}")


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
    """One line describing a libsndfile error, without libsndfile's "Error opening 'PATH':"
    prefix (the message already starts with the path), shortened at a word boundary."""
    text = getattr(exc, "error_string", None) or str(exc)
    text = " ".join(str(text).split()) or type(exc).__name__
    if len(text) > 200:
        text = text[:200].rsplit(" ", 1)[0] + " ..."
    return text
