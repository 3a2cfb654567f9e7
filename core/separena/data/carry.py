"""Real speech pools carried to a machine that lacks the Debian packages they come from.

The real recorded speakers of :mod:`separena.data.real` (training and ``real-dev`` speakers)
and of :mod:`separena.data.transfer` are found through dpkg and decoded from the packages'
files. A machine without those packages (a lent GPU machine: no Debian packages, a size limit
on what travels) can still build the default data from a *carried* copy of the built pools:
:func:`carry_pools` writes each pool as Ogg Opus (12 kb/s by default: 18 MiB for the 207
minutes of training speakers; at that rate training scores moved by at most 0.06 dB,
docs/benchmarks/gpu_preparation.md), and with ``$SEPARENA_CARRIED_POOLS`` naming that folder
:func:`separena.data.real.pool_cache` takes the pools from there instead of dpkg
(:func:`separena.data.real.carried_pool`). Reading needs only libsndfile (the ``soundfile``
wheel), not ffmpeg.

A carried pool is named ``<pool>+opus<rate>k``: everything built from it (the ``real-dev`` and
``transfer`` mixtures, the data set's name) carries that name and never passes for data built
from the packages.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np

from ..errors import SeparenaError
from . import real, transfer
from .audio import read_wav
from .cache import atomic_dir
from .real import CARRIED_POOLS_ENV, is_carried

__all__ = ["CARRIED_POOLS_ENV", "carry_pools", "is_carried"]


def _opus(signal: np.ndarray, sample_rate: int, bitrate_kbps: int, path: Path) -> None:
    """Encode ``signal [time]`` (float32) as Ogg Opus at ``bitrate_kbps`` into ``path`` (ffmpeg)."""
    pcm = (np.clip(signal, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "s16le", "-ar", str(sample_rate), "-ac", "1", "-i", "-",
           "-c:a", "libopus", "-b:a", f"{bitrate_kbps}k", "-f", "ogg", str(path)]
    try:
        subprocess.run(cmd, input=pcm, check=True, capture_output=True, timeout=600)
    except FileNotFoundError:
        raise SeparenaError("carry: ffmpeg not found on PATH; install the Debian package ffmpeg") from None
    except subprocess.CalledProcessError as exc:
        raise SeparenaError(f"carry: ffmpeg could not encode {path.name}: "
                            f"{exc.stderr.decode(errors='replace').strip()[:200]}") from None


def carry_pools(folder: str | os.PathLike[str], *, sample_rate: int = 8000, bitrate_kbps: int = 12,
                cache_dir: str | os.PathLike[str] | None = None, system_root: str | os.PathLike[str] = "/",
                catalogues: tuple[real.Catalogue, ...] | None = None) -> list[Path]:
    """Write the real speech pool and the transfer pool at ``sample_rate`` (built here first
    when not cached; needs their Debian packages and ffmpeg) into ``folder`` as Ogg Opus at
    ``bitrate_kbps``, one file per speaker plus the pool's ``meta.json`` with a ``carried``
    entry (source pool, codec, rate). Each file is read back with libsndfile and must give
    exactly the pool's sample count. ``catalogues``: which pools (default: ``real.REAL`` and
    ``transfer.TRANSFER``). Returns the carried pools' folders.
    """
    if os.environ.get(CARRIED_POOLS_ENV):
        raise SeparenaError(f"carry: ${CARRIED_POOLS_ENV} is set; expected it unset, so that the pools are "
                            "encoded from the ones built from the Debian packages, not from a carried copy")
    out = []
    for cat in catalogues or (real.REAL, transfer.TRANSFER):
        source = real._pool_dir(int(sample_rate), cache_dir, Path(system_root), 2, cat)
        meta = json.loads((source / "meta.json").read_text())
        target = Path(folder) / f"{source.name}+opus{int(bitrate_kbps)}k"
        with atomic_dir(target, replace=True) as tmp:
            speakers = {}
            for speaker, info in sorted(meta["speakers"].items()):
                wav = read_wav(source / info["file"], int(sample_rate)).numpy()
                name = Path(info["file"]).with_suffix(".opus").name
                _opus(wav, int(sample_rate), int(bitrate_kbps), tmp / name)
                back = len(read_wav(tmp / name, int(sample_rate)))
                if back != len(wav):
                    raise SeparenaError(f"carry: {name} reads back as {back} samples; expected {len(wav)}")
                speakers[speaker] = {**info, "file": name}
            carried = {"from": source.name, "codec": "opus", "container": "ogg", "bitrate_kbps": int(bitrate_kbps)}
            (tmp / "meta.json").write_text(json.dumps({**meta, "speakers": speakers, "carried": carried}, indent=1))
        out.append(target)
    return out
