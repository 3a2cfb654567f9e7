"""Mixtures on disk: a folder of ``mix/`` and ``s1/`` .. ``s<n>/`` per split (the wsj0-2mix / LibriMix layout).

Every dataset that stores fixed mixtures (``espeak-2mix``, ``real-dev``, ``midi-4stem``,
``musdb18``) writes them with :func:`write_mixture_folder` and reads them back with
:class:`MixtureFolder`; ``wsj0-2mix`` (:mod:`separena.data.wsj0mix`) reads a corpus in this
layout.

::

    root/<split>/<mix_dir>/<name>.wav  (mix/ for wsj0-2mix; LibriMix: mix_clean/, mix_both/, mix_single/)
    root/<split>/s1/<name>.wav
    root/<split>/s2/<name>.wav  ...    (one folder per source, s1 .. s<n_src>)

WHAMR! names its source folders ``s1_anechoic/`` (the direct path) and ``s1_reverb/``: the
``source_suffix``. Every file of a split has the same name in each folder and the same length (the "min"
version of wsj0-2mix). The mixture folder is a parameter (default ``mix``, else ``mix_clean``;
a noisy folder is only read when named). :class:`MixtureFolder` reads lazily with
:func:`read_wav`; :func:`write_mixture_folder` writes any :class:`MixtureSet` in this layout.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import AudioFileError, SeparenaError
from . import Example, MixtureSet
from .audio import audio_info, read_wav, write_wav

__all__ = ["MixtureFolder", "CropTrainStream", "write_mixture_folder", "resolve_mix_dir", "is_sum_of_sources",
           "MIX_DIRS", "DEFAULT_MIX_DIRS", "SOURCE_SUFFIXES"]

log = logging.getLogger(__name__)

# LibriMix / WHAM! / WHAMR! mixture folders and what they hold
MIX_DIRS = {
    "mix": "s1 + ... + s<n> (wsj0-2mix)",
    "mix_clean": "s1 + s2 (LibriMix sep_clean)",
    "mix_both": "s1 + s2 + noise (LibriMix sep_noisy)",
    "mix_single": "s1 + noise (LibriMix enh_single, n_src=1)",
    "mix_clean_anechoic": "s1_anechoic + s2_anechoic (WHAMR!)",
    "mix_both_anechoic": "s1_anechoic + s2_anechoic + noise (WHAMR!)",
    "mix_single_anechoic": "s1_anechoic + noise (WHAMR!, n_src=1)",
    "mix_clean_reverb": "s1_reverb + s2_reverb (WHAMR!)",
    "mix_both_reverb": "s1_reverb + s2_reverb + noise (WHAMR!)",
    "mix_single_reverb": "s1_reverb + noise (WHAMR!, n_src=1)",
}
DEFAULT_MIX_DIRS = ("mix", "mix_clean")  # mix_dir=None: the first present; never a noisy folder
NOISY_MIX_DIRS = ("mix_both", "mix_single")  # mixtures that are not the sum of the sources
SOURCE_SUFFIXES = {"_anechoic": "the direct path (WHAMR!'s reference)", "_reverb": "the reverberant source"}
SUM_CHECK_FILES = 3  # mixtures checked against the sum of their sources when a set is opened


def is_sum_of_sources(mix_dir: str, source_suffix: str = "") -> bool:
    """Whether mixtures of the folder ``mix_dir`` are the sum of the sources in ``s<k><source_suffix>/``:
    not for noisy folders (``mix_both*``, ``mix_single*``), nor for WHAMR!'s reverberant
    mixtures read against the anechoic sources (or anechoic mixtures against reverberant ones)."""
    if mix_dir.startswith(NOISY_MIX_DIRS):
        return False
    for room in ("_reverb", "_anechoic"):
        if mix_dir.endswith(room) and source_suffix in SOURCE_SUFFIXES and source_suffix != room:
            return False
    return True


def _lsb_tolerance(n_src: int) -> float:
    """Largest |mix - sum(sources)| that 16-bit files of exact sums can show: each of the
    ``n_src + 1`` files is rounded by at most half a step of 2**-15; one full step each."""
    return (n_src + 1) * 2.0 ** -15


def subfolders(folder: Path) -> list[str]:
    try:
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def resolve_mix_dir(split_dir: Path, mix_dir: str | None) -> str:
    """The mixture folder of ``split_dir``: ``mix_dir`` if given (it must exist), else the
    first of :data:`DEFAULT_MIX_DIRS` present. A split with only noisy folders is an error
    that names them and how to ask for one."""
    if not split_dir.is_dir():
        raise SeparenaError(f"{split_dir}: no such split folder; expected <root>/<split>/mix/*.wav")
    found = subfolders(split_dir)
    if mix_dir is not None:
        if not (split_dir / mix_dir).is_dir():
            mixes = [f for f in found if f.startswith("mix")] or found
            raise SeparenaError(f"{split_dir / mix_dir}: no such mixture folder; expected a folder of mixtures, "
                                f"found {', '.join(mixes) or 'nothing'}")
        return mix_dir
    for name in DEFAULT_MIX_DIRS:
        if (split_dir / name).is_dir():
            return name
    noisy = [f for f in found if f in MIX_DIRS]
    if noisy:
        asks = "; ".join(f"mix_dir={f!r} for {MIX_DIRS[f]}" for f in noisy)
        raise SeparenaError(f"{split_dir}: no mix/ or mix_clean/ folder, only {', '.join(noisy)}; expected the "
                            f"mixture folder named when it is not one of those two: pass {asks}")
    raise SeparenaError(f"{split_dir}: no mixture folder; expected mix/ (wsj0-2mix) or mix_clean/ (LibriMix), "
                        f"found {', '.join(found) or 'nothing'}")


def _suffix_hint(split_dir: Path, source_suffix: str) -> str:
    """What to pass when the source folders carry a suffix other than ``source_suffix`` (WHAMR!)."""
    found = [sfx for sfx in SOURCE_SUFFIXES if sfx != source_suffix and (split_dir / f"s1{sfx}").is_dir()]
    if not found:
        return ""
    return " (found " + ", ".join(f"s1{sfx}/" for sfx in found) + ": pass " + " or ".join(
        f"source_suffix={sfx!r} for {SOURCE_SUFFIXES[sfx]}" for sfx in found) + ")"


def _wav_files(folder: Path) -> dict[str, str]:
    """``{stem: file name}`` of the WAV files of ``folder``: ``.wav`` in any case; hidden files
    (``._x.wav`` resource forks, ``.DS_Store``) are ignored. The same stem twice is an error."""
    out: dict[str, str] = {}
    for name in sorted(p.name for p in folder.iterdir()):
        if name.startswith(".") or not name.lower().endswith(".wav") or len(name) <= 4:
            continue
        stem = name[:-4]
        if stem in out:
            raise SeparenaError(f"{folder}: {out[stem]} and {name} are the same recording twice; "
                                f"expected one file per name")
        out[stem] = name
    return out


class MixtureFolder:
    """A :class:`MixtureSet` read lazily from ``root/<split>/{<mix_dir>,s1,s2,...}/*.wav``.

    When the set is opened the file lists are compared: every mixture must have a file of the
    same name in each ``s<k>`` folder, and every source file a mixture (one-line error with how
    many and the first, unless ``skip_unmatched``). Hidden files (``._x.wav``) are ignored and
    ``.WAV`` counts as ``.wav``. The first :data:`SUM_CHECK_FILES` mixtures are checked to be
    the sum of their sources (within 16-bit rounding) unless the folder holds noisy mixtures.
    Lengths and rates of the other files are checked when an item is read.

    Args:
        root: dataset root; split: folder under it (e.g. ``"tt"``); sample_rate: expected
            rate of every file; n_src: number of source folders.
        mix_dir: mixture folder (``"mix"``, ``"mix_clean"``, ``"mix_both"``, ``"mix_single"`` or
            any other name); ``None``: ``mix`` or else ``mix_clean``, never a noisy one.
        mix_is_sum: whether the mixtures must be the sum of the sources; ``None``: yes except
            for ``mix_both*`` and ``mix_single*``, and WHAMR!'s reverberant mixtures against
            anechoic sources (:func:`is_sum_of_sources`).
        source_suffix: the source folders are ``s<k><source_suffix>``: ``""`` (``s1``, ``s2``),
            or WHAMR!'s ``"_anechoic"`` (direct path) and ``"_reverb"``.
        skip_unmatched: read only the mixtures that have every source file and ignore source
            files without a mixture, with a one-line warning, instead of refusing the split.
        mix_from_sources: return ``mix = sources.sum(0)`` instead of reading the mixture file
            (exact sums for generated sets whose files are 16-bit).

    Items: :class:`Example` with ``mix [time]`` and ``sources [n_src, time]``, float32.
    """

    def __init__(self, root: str | os.PathLike[str], split: str, sample_rate: int, n_src: int = 2,
                 *, mix_dir: str | None = None, mix_is_sum: bool | None = None, skip_unmatched: bool = False,
                 mix_from_sources: bool = False, source_suffix: str = "") -> None:
        self.root, self.split = Path(root), split
        self.sample_rate, self.n_src = int(sample_rate), int(n_src)
        self.mix_from_sources = mix_from_sources
        split_dir = self.root / split
        self.mix_dir_name = resolve_mix_dir(split_dir, mix_dir)
        self.mix_dir = split_dir / self.mix_dir_name
        if self.mix_dir_name.startswith("mix_single") and self.n_src != 1:
            raise SeparenaError(f"{self.mix_dir}: {self.mix_dir_name} holds "
                                f"{MIX_DIRS.get(self.mix_dir_name, 's1 + noise')}; expected n_src=1, got {self.n_src}")
        self.mix_is_sum = (is_sum_of_sources(self.mix_dir_name, source_suffix) if mix_is_sum is None
                           else bool(mix_is_sum))
        self.src_dirs = [split_dir / f"s{k + 1}{source_suffix}" for k in range(self.n_src)]
        self._src_label = f"s1{source_suffix}..s{self.n_src}{source_suffix}"
        for d in self.src_dirs:
            if not d.is_dir():
                raise SeparenaError(f"{d}: missing source folder; expected {self.n_src} folders {self._src_label}"
                                    + _suffix_hint(split_dir, source_suffix))
        mixes = _wav_files(self.mix_dir)
        if not mixes:
            raise SeparenaError(f"{self.mix_dir}: no .wav mixtures; expected at least one")
        sources = [_wav_files(d) for d in self.src_dirs]
        stems = self._match(mixes, sources, skip_unmatched)
        self.names = [mixes[s] for s in stems]  # mixture file names, sorted
        self._src_names = [[files[s] for s in stems] for files in sources]
        if self.mix_is_sum and not self.mix_from_sources:
            for i in range(min(SUM_CHECK_FILES, len(self))):
                self._check_sum(i)

    def _match(self, mixes: dict[str, str], sources: list[dict[str, str]], skip_unmatched: bool) -> list[str]:
        """Stems of the mixtures to read; a one-line error (or warning) when the lists differ."""
        lacking = [(s, d) for s in mixes for d, files in zip(self.src_dirs, sources) if s not in files]
        extra = [(d.name, files[s]) for d, files in zip(self.src_dirs, sources) for s in files if s not in mixes]
        n_extra = sum(1 for folder, _ in extra if extra and folder == extra[0][0])  # in the first such folder
        complete = [s for s in mixes if all(s in files for files in sources)]
        n_lacking = len({s for s, _ in lacking})
        split_dir = self.mix_dir.parent
        if not skip_unmatched:
            if lacking:
                stem, d = lacking[0]
                n_dir = sum(1 for _, dd in lacking if dd == d)
                raise AudioFileError(f"{d / (stem + '.wav')}: missing source file for mixture "
                                     f"{self.mix_dir / mixes[stem]} ({n_dir} of {len(mixes)} mixtures lack a file "
                                     f"in {d.name}/); expected the same names in {self.mix_dir.name}/ and "
                                     f"{self._src_label}/ (skip_unmatched=True reads the {len(complete)} complete "
                                     f"mixtures)")
            if extra:
                folder, name = extra[0]
                raise SeparenaError(f"{split_dir}: {n_extra} source files in {folder}/ have no mixture in "
                                    f"{self.mix_dir.name}/, first {folder}/{name}; expected the same names in "
                                    f"{self.mix_dir.name}/ and {self._src_label}/ (skip_unmatched=True reads the "
                                    f"{len(complete)} complete mixtures)")
            return complete
        if not complete:
            raise SeparenaError(f"{split_dir}: none of the {len(mixes)} mixtures in {self.mix_dir.name}/ has all of "
                                f"{self._src_label}/; expected files of the same names")
        if lacking or extra:
            parts = []
            if lacking:
                parts.append(f"{n_lacking} lack a source file, first {lacking[0][1].name}/{lacking[0][0]}.wav")
            if extra:
                folder, name = extra[0]
                parts.append(f"{n_extra} source files in {folder}/ have no mixture, first {folder}/{name}")
            log.warning("%s: reading %d of %d mixtures in %s/ (skip_unmatched): %s", split_dir, len(complete),
                        len(mixes), self.mix_dir.name, "; ".join(parts))
        return complete

    def _check_sum(self, index: int) -> None:
        name = self.names[index]
        mix = read_wav(self.mix_dir / name, self.sample_rate)
        src = _stack_same_length([read_wav(d / n[index], self.sample_rate)
                                  for d, n in zip(self.src_dirs, self._src_names)], self.src_dirs, name)
        if src.shape[-1] != mix.shape[-1]:
            raise AudioFileError(f"{self.mix_dir / name}: sources differ in length from the mixture; "
                                 f"expected {mix.shape[0]} samples each, got {src.shape[-1]}")
        residual = (mix.double() - src.double().sum(0))
        worst, tol = float(residual.abs().max()), _lsb_tolerance(self.n_src)
        if worst > tol:
            power = float(mix.double().pow(2).sum())
            rel = 10 * math.log10(max(float(residual.pow(2).sum()), 1e-30) / max(power, 1e-30))
            terms = " + ".join(d.name for d in self.src_dirs)
            raise SeparenaError(
                f"{self.mix_dir / name}: the mixture is not the sum of its sources; expected "
                f"max |mix - ({terms})| <= {tol:.1e} (16-bit rounding), got {worst:.3g} (residual {rel:.1f} dB "
                f"relative to the mixture); a noisy mixture folder needs mix_dir= naming it or mix_is_sum=False")

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> Example:
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.split}: index {index} out of range for {len(self)} mixtures")
        index %= len(self)
        name = self.names[index]
        sources = [read_wav(d / n[index], self.sample_rate) for d, n in zip(self.src_dirs, self._src_names)]
        lengths = {s.shape[0] for s in sources}
        stem = name[:-4]
        if self.mix_from_sources:
            src = _stack_same_length(sources, self.src_dirs, name)
            return Example(stem, src.sum(0), src)
        mix = read_wav(self.mix_dir / name, self.sample_rate)
        if lengths != {mix.shape[0]}:
            raise AudioFileError(
                f"{self.mix_dir / name}: sources differ in length from the mixture; "
                f"expected {mix.shape[0]} samples each, got {sorted(lengths)}"
            )
        return Example(stem, mix, torch.stack(sources))

    def __iter__(self) -> Iterator[Example]:
        return (self[i] for i in range(len(self)))

    def lengths(self) -> list[int]:
        """Length in samples of every mixture (read from headers only)."""
        return [audio_info(self.mix_dir / n)[2] for n in self.names]


def _stack_same_length(sources: list[Tensor], dirs: list[Path], name: str) -> Tensor:
    lengths = [s.shape[0] for s in sources]
    if len(set(lengths)) != 1:
        raise AudioFileError(f"{dirs[0] / name}: sources differ in length; got {lengths} samples")
    return torch.stack(sources)


def write_mixture_folder(root: str | os.PathLike[str], split: str, examples: Iterable[Example] | MixtureSet,
                      sample_rate: int) -> Path:
    """Write evaluation examples as a mixture folder under ``root/<split>`` as 16-bit PCM.

    Each :class:`Example` gives ``mix [time]`` and ``sources [n_src, time]``; files are named
    ``<example.name>.wav`` in ``mix/`` and ``s1/`` .. ``s<n_src>/``. Each file is written
    atomically. Returns the split folder.
    """
    split_dir = Path(root) / split
    for ex in _iter_examples(examples):
        if ex.sources.ndim != 2 or ex.sources.shape[-1] != ex.mix.shape[-1]:
            raise SeparenaError(
                f"{split}/{ex.name}: sources must be [n_src, time] matching mix [time]; "
                f"got {tuple(ex.sources.shape)} and {tuple(ex.mix.shape)}"
            )
        write_wav(split_dir / "mix" / f"{ex.name}.wav", ex.mix, sample_rate)
        for k, s in enumerate(ex.sources):
            write_wav(split_dir / f"s{k + 1}" / f"{ex.name}.wav", s, sample_rate)
    return split_dir


def _iter_examples(examples: Iterable[Example] | MixtureSet) -> Iterator[Example]:
    if hasattr(examples, "__len__") and hasattr(examples, "__getitem__"):
        return (examples[i] for i in range(len(examples)))  # type: ignore[arg-type, index]
    return iter(examples)  # type: ignore[arg-type]


class CropTrainStream:
    """Training batches of random crops of fixed mixtures, a pure function of ``(seed, step)``.

    Each item picks a mixture uniformly and a crop of ``segment_samples`` uniformly inside it
    (mixtures shorter than the segment are zero-padded at the end). Mixtures are read from
    disk on demand; a small cache keeps recently read files in memory.

    ``batch`` returns ``(mix [batch, time], sources [batch, n_src, time])``.
    """

    def __init__(self, mixtures: MixtureFolder, cache_items: int = 256) -> None:
        self.mixtures = mixtures
        self.n_src = mixtures.n_src
        self._lengths = np.asarray(mixtures.lengths(), dtype=np.int64)
        self._cache: dict[int, Example] = {}
        self._cache_items = cache_items

    def _get(self, index: int) -> Example:
        ex = self._cache.get(index)
        if ex is None:
            ex = self.mixtures[index]
            if len(self._cache) >= self._cache_items:
                self._cache.pop(next(iter(self._cache)))
            self._cache[index] = ex
        return ex

    def batch(self, seed: int, step: int, batch_size: int, segment_samples: int) -> tuple[Tensor, Tensor]:
        rng = np.random.default_rng([int(seed), int(step), 0x5E9A])
        idx = rng.integers(0, len(self._lengths), size=batch_size)
        mixes = torch.zeros(batch_size, segment_samples)
        sources = torch.zeros(batch_size, self.n_src, segment_samples)
        for b, i in enumerate(idx):
            length = int(self._lengths[i])
            start = int(rng.integers(0, max(length - segment_samples, 0) + 1))
            ex = self._get(int(i))
            n = min(segment_samples, length - start)
            mixes[b, :n] = ex.mix[start:start + n]
            sources[b, :, :n] = ex.sources[:, start:start + n]
        return mixes, sources
