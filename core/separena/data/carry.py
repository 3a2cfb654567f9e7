"""Data carried to a machine that lacks the Debian packages it is built from.

The real recorded speakers of :mod:`separena.data.real` (training and ``real-dev`` speakers)
and of :mod:`separena.data.transfer` are found through dpkg and decoded from the packages'
files. A machine without those packages (a lent GPU machine: no Debian packages, a size limit
on what travels) can still build the default data from a *carried* copy of the built pools:
:func:`carry_pools` writes each pool as Ogg Opus (12 kb/s by default: 18 MiB for the 207
minutes of training speakers; at that rate training scores moved by at most 0.06 dB,
docs/benchmarks/gpu_preparation.md), and with ``$SEPARENA_CARRIED`` naming that folder
:func:`separena.data.real.pool_cache` takes the pools from there instead of dpkg
(:func:`separena.data.real.carried_pool`). Reading needs only libsndfile (the ``soundfile``
wheel), not ffmpeg.

A carried pool is named ``<pool>+opus<rate>k``: everything built from it (the ``real-dev`` and
``transfer`` mixtures, the data set's name) carries that name and never passes for data built
from the packages.

Mixture sets travel the same way (:func:`carry_mixture_sets`): each split's sources, one
stream per source folder, as FLAC of the samples rounded to fewer bits (a waveform copy) or as
Opus, and :func:`expand_carried_sets` writes them back as mixture folders (16-bit WAV, the
mixture the sum of the sources) on the other machine. ``midi-4stem`` carries its rendered
pieces this way (:func:`separena.data.music.carry_midi_4stem`: FluidSynth and the soundfonts
stay here).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from ..errors import SeparenaError
from . import Example, real, transfer
from .audio import read_wav
from .cache import CARRIED_ENV, atomic_dir, carried_root
from .disk import MixtureFolder, write_mixture_folder
from .real import is_carried

__all__ = ["CARRIED_ENV", "carry_pools", "is_carried", "carry_mixture_sets", "expand_carried_sets"]


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
    refuse_when_carried("the pools are")
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


def refuse_when_carried(what: str) -> None:
    """Raise when ``$SEPARENA_CARRIED`` is set: a copy is made from data built here, never from a copy."""
    if carried_root() is not None:
        raise SeparenaError(f"carry: ${CARRIED_ENV} is set; expected it unset, so that {what} encoded from "
                            "data built from the Debian packages, not from a carried copy")


def _codec(codec: str) -> tuple[str, int]:
    """``"opus32k"`` -> ``("opus", 32)`` (kb/s); ``"flac10bit"`` -> ``("flac", 10)`` (bits kept)."""
    m = re.fullmatch(r"(opus)(\d+)k|(flac)(\d+)bit", codec)
    if not m or (m.group(2) and not 6 <= int(m.group(2)) <= 256) or (m.group(4) and not 1 <= int(m.group(4)) <= 16):
        raise SeparenaError(f"carry: bad codec {codec!r}; expected 'opus<6-256>k' (Ogg Opus at that many kb/s) "
                            "or 'flac<1-16>bit' (FLAC of the 16-bit samples rounded to that many bits)")
    return (m.group(1), int(m.group(2))) if m.group(1) else (m.group(3), int(m.group(4)))


def _flac(signal: np.ndarray, sample_rate: int, bits: int, path: Path) -> None:
    """Write ``signal [time]`` (float32 read from 16-bit files) as FLAC with its 16-bit samples
    rounded to multiples of ``2**(16 - bits)``: FLAC drops the constant low bits, so the file
    shrinks while the error stays white at ``6 * bits`` dB below full scale (a waveform copy,
    where a perceptual codec such as Opus keeps the sound but not the samples)."""
    step = 1 << (16 - bits)
    pcm = np.clip(np.round(np.round(signal.astype(np.float64) * 32768.0) / step) * step, -32768, 32767)
    sf.write(path, pcm.astype(np.int16), int(sample_rate), format="FLAC", subtype="PCM_16")


def carry_mixture_sets(target: str | os.PathLike[str], sets: dict[str, MixtureFolder], meta: dict, *,
                       codec: str = "opus32k") -> Path:
    """Write the sources of each mixture set of ``sets`` (split name -> set, every set at one
    sample rate and source count) into ``target``: one stream per split and source,
    ``<split>/s<k>.<opus|flac>``, the items one after another, as ``codec``: ``"opus<N>k"`` (Ogg
    Opus at N kb/s, ffmpeg) or ``"flac<N>bit"`` (FLAC of the samples rounded to N bits,
    libsndfile). ``meta.json`` is ``meta`` plus a ``carried`` entry: the codec and each split's
    item names and lengths. Each stream is read back with libsndfile and must give exactly the
    summed lengths. Returns ``target``.
    """
    target = Path(target)
    kind, amount = _codec(codec)
    rates = {s.sample_rate for s in sets.values()}
    n_srcs = {s.n_src for s in sets.values()}
    if len(rates) != 1 or len(n_srcs) != 1:
        raise SeparenaError(f"carry: the sets of {target.name} have sample rates {sorted(rates)} and source "
                            f"counts {sorted(n_srcs)}; expected one of each")
    sample_rate, n_src = rates.pop(), n_srcs.pop()
    items: dict[str, list[list]] = {}
    with atomic_dir(target, replace=True) as tmp:
        for split, mixtures in sets.items():
            examples = [mixtures[i] for i in range(len(mixtures))]
            sources = [ex.sources.numpy() for ex in examples]
            items[split] = [[ex.name, int(ex.sources.shape[-1])] for ex in examples]
            (tmp / split).mkdir()
            for k in range(n_src):
                stream = np.concatenate([x[k] for x in sources])
                path = tmp / split / f"s{k + 1}.{kind}"
                (_opus if kind == "opus" else _flac)(stream, sample_rate, amount, path)
                back = len(read_wav(path, sample_rate))
                if back != len(stream):
                    raise SeparenaError(f"carry: {split}/{path.name} reads back as {back} samples; "
                                        f"expected {len(stream)}")
        carried = {"codec": codec, "suffix": f".{kind}", "sample_rate": int(sample_rate), "n_src": int(n_src),
                   "items": items}
        (tmp / "meta.json").write_text(json.dumps({**meta, "carried": carried}, indent=1))
    return target


def expand_carried_sets(source: str | os.PathLike[str], final: str | os.PathLike[str]) -> Path:
    """Decode the sets that :func:`carry_mixture_sets` wrote into ``source`` as mixture folders
    ``final/<split>/{mix,s1,..}/<name>.wav`` (16-bit, each mixture the sum of its stored
    sources), with ``source``'s ``meta.json``; built atomically, kept when already complete.
    Needs only libsndfile. Returns ``final``.
    """
    source, final = Path(source), Path(final)
    if (final / "meta.json").is_file():
        return final
    meta = json.loads((source / "meta.json").read_text())
    carried = meta["carried"]
    sample_rate, n_src = int(carried["sample_rate"]), int(carried["n_src"])
    with atomic_dir(final) as tmp:
        for split, items in carried["items"].items():
            streams = [read_wav(source / split / f"s{k + 1}{carried['suffix']}", sample_rate) for k in range(n_src)]
            start = 0
            for name, length in items:
                # through 16-bit first, so that the stored sources sum to the stored mixture
                src = torch.round(torch.stack([s[start:start + length] for s in streams]).clamp(-1, 1) * 32767) / 32767
                write_mixture_folder(tmp, split, [Example(name, src.sum(0), src)], sample_rate)
                start += length
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    return final
