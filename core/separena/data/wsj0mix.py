"""Mixtures on disk in the wsj0-2mix / LibriMix layout.

::

    root/<split>/mix/<name>.wav        (LibriMix: mix_clean/ or mix_both/ instead of mix/)
    root/<split>/s1/<name>.wav
    root/<split>/s2/<name>.wav  ...    (one folder per source, s1 .. s<n_src>)

Every file of a split has the same name in each folder and the same length (the "min"
version of wsj0-2mix). :class:`Wsj0MixSet` reads lazily with :func:`read_wav`;
:func:`write_mixture_set` writes any :class:`MixtureSet` in this layout.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import AudioFileError, SeparenaError
from . import Example, MixtureSet, SeparationData
from .audio import audio_info, read_wav, write_wav

__all__ = ["Wsj0MixSet", "CropTrainStream", "wsj0_2mix", "write_mixture_set", "MIX_DIRS"]

MIX_DIRS = ("mix", "mix_clean", "mix_both", "mix_single")  # first one present wins


def _find_mix_dir(split_dir: Path) -> Path:
    for name in MIX_DIRS:
        if (split_dir / name).is_dir():
            return split_dir / name
    if not split_dir.is_dir():
        raise SeparenaError(f"{split_dir}: no such split folder; expected <root>/<split>/mix/*.wav")
    raise SeparenaError(f"{split_dir}: no mixture folder; expected one of {', '.join(MIX_DIRS)}")


class Wsj0MixSet:
    """A :class:`MixtureSet` read lazily from ``root/<split>/{mix,s1,s2,...}/*.wav``.

    The file list is checked when the set is opened: every mixture must have a source file
    of the same name in each ``s<k>`` folder (the error names the first missing file).
    Lengths and rates are checked when an item is read.

    Args:
        root: dataset root; split: folder under it (e.g. ``"tt"``); sample_rate: expected
            rate of every file; n_src: number of source folders.
        mix_from_sources: return ``mix = sources.sum(0)`` instead of reading the mixture file
            (exact sums for generated sets whose files are 16-bit).

    Items: :class:`Example` with ``mix [time]`` and ``sources [n_src, time]``, float32.
    """

    def __init__(self, root: str | os.PathLike[str], split: str, sample_rate: int, n_src: int = 2,
                 *, mix_from_sources: bool = False) -> None:
        self.root, self.split = Path(root), split
        self.sample_rate, self.n_src = int(sample_rate), int(n_src)
        self.mix_from_sources = mix_from_sources
        split_dir = self.root / split
        self.mix_dir = _find_mix_dir(split_dir)
        self.src_dirs = [split_dir / f"s{k + 1}" for k in range(self.n_src)]
        for d in self.src_dirs:
            if not d.is_dir():
                raise SeparenaError(f"{d}: missing source folder; expected {self.n_src} folders s1..s{self.n_src}")
        self.names = sorted(p.name for p in self.mix_dir.iterdir() if p.suffix.lower() == ".wav")
        if not self.names:
            raise SeparenaError(f"{self.mix_dir}: no .wav mixtures; expected at least one")
        for d in self.src_dirs:
            present = {p.name for p in d.iterdir()}
            for name in self.names:
                if name not in present:
                    raise AudioFileError(f"{d / name}: missing source file for mixture {self.mix_dir / name}")

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> Example:
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.split}: index {index} out of range for {len(self)} mixtures")
        name = self.names[index]
        sources = [read_wav(d / name, self.sample_rate) for d in self.src_dirs]
        lengths = {s.shape[0] for s in sources}
        if self.mix_from_sources:
            src = _stack_same_length(sources, self.src_dirs, name)
            return Example(Path(name).stem, src.sum(0), src)
        mix = read_wav(self.mix_dir / name, self.sample_rate)
        if lengths != {mix.shape[0]}:
            raise AudioFileError(
                f"{self.mix_dir / name}: sources differ in length from the mixture; "
                f"expected {mix.shape[0]} samples each, got {sorted(lengths)}"
            )
        return Example(Path(name).stem, mix, torch.stack(sources))

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


def write_mixture_set(root: str | os.PathLike[str], split: str, examples: Iterable[Example] | MixtureSet,
                      sample_rate: int) -> Path:
    """Write evaluation examples in the wsj0-2mix layout under ``root/<split>`` as 16-bit PCM.

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

    def __init__(self, mixtures: Wsj0MixSet, cache_items: int = 256) -> None:
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


def wsj0_2mix(*, root: str, sample_rate: int = 8000, n_src: int = 2, train_split: str = "tr",
              valid_split: str = "cv", test_split: str = "tt",
              extra_tests: dict[str, str] | None = None) -> SeparationData:
    """The wsj0-2mix (or LibriMix) layout under ``root``: ``<split>/{mix,s1,s2}/*.wav``.

    Args:
        root: folder holding the split folders (e.g. ``.../wav8k/min``).
        sample_rate: rate of every file (checked when read; no resampling).
        n_src: number of sources (``s1`` .. ``s<n_src>``).
        train_split, valid_split, test_split: split folder names (LibriMix: ``train-360``,
            ``dev``, ``test``).
        extra_tests: more named test sets, ``{name: split folder}``.
    """
    base = Path(root).expanduser()
    if not base.is_dir():
        raise SeparenaError(f"wsj0-2mix: root {str(base)!r} is not a folder; expected <root>/{test_split}/mix/*.wav")
    train = Wsj0MixSet(base, train_split, sample_rate, n_src)
    valid = Wsj0MixSet(base, valid_split, sample_rate, n_src)
    test = Wsj0MixSet(base, test_split, sample_rate, n_src)
    extras: Mapping[str, MixtureSet] = {
        name: Wsj0MixSet(base, split, sample_rate, n_src) for name, split in (extra_tests or {}).items()
    }
    digest = hashlib.sha256()
    for part in (str(base.resolve()), *(str(len(s)) + "".join(getattr(s, "names", [])) for s in (train, valid, test))):
        digest.update(part.encode())
    return SeparationData(
        name=f"wsj0-{n_src}mix@{digest.hexdigest()[:8]}", sample_rate=sample_rate, n_src=n_src,
        train=CropTrainStream(train), valid=valid, test=test, extra_tests=dict(extras),
    )
