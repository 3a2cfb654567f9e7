"""Data for training and evaluating separators.

A dataset builder (registered with ``separena_register_datasets``) returns a
:class:`SeparationData`: a deterministic stream of training batches, and fixed evaluation
sets (``valid``, ``test``, plus any extra named test sets such as ``real-dev``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # annotations only: the cache's listing needs no torch
    from torch import Tensor

__all__ = ["Example", "MixtureSet", "TrainStream", "SeparationData", "TensorMixtureSet", "MixtureSubset"]


@dataclass(frozen=True)
class Example:
    """One evaluation mixture.

    Shapes:
        mix: ``[time]``; sources: ``[n_src, time]`` with ``sources.sum(0) == mix``
        (up to any noise the dataset adds to the mixture only).
    """

    name: str
    mix: Tensor
    sources: Tensor


class MixtureSet(Protocol):
    """A fixed, ordered set of evaluation mixtures."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Example: ...


class TrainStream(Protocol):
    """Training batches, a pure function of ``(seed, step)``: every model of a suite sees the
    same examples in the same order for a given seed. A stream may also offer ``to(device)``,
    the same stream building its batches on that device (the trainer uses it on a GPU when no
    data workers build them)."""

    def batch(self, seed: int, step: int, batch_size: int, segment_samples: int) -> tuple[Tensor, Tensor]:
        """Return ``(mix [batch, time], sources [batch, n_src, time])`` for this step."""
        ...


@dataclass
class SeparationData:
    """What a dataset builder returns."""

    name: str  # dataset name and a short content hash, e.g. "espeak-2mix@3f2a9c1b"
    sample_rate: int  # Hz
    n_src: int  # sources per mixture
    train: TrainStream  # training batches
    valid: MixtureSet  # model selection / early checks
    test: MixtureSet  # the reported split
    extra_tests: Mapping[str, MixtureSet] = field(default_factory=dict)  # e.g. {"real-dev": ...}
    source_names: tuple[str, ...] | None = None  # roles of the sources, e.g. ("vocals", "bass", ...)
    permutation_invariant: bool = True  # False where sources have fixed roles: scored in order
    mix_is_sum: bool = True  # every evaluation mixture is the sum of its sources (up to 16-bit rounding)
    train_mix_is_sum: bool = True  # so is every training mixture (False where noise is added to mixtures only)

    def test_sets(self) -> dict[str, MixtureSet]:
        """``{"test": test, **extra_tests}``: every set an evaluation reports."""
        return {"test": self.test, **self.extra_tests}


class TensorMixtureSet:
    """A :class:`MixtureSet` held in memory (tests and small generated sets)."""

    def __init__(self, mixes: Sequence[Tensor], sources: Sequence[Tensor], names: Sequence[str] | None = None):
        self.mixes, self.sources = list(mixes), list(sources)
        self.names = list(names) if names is not None else [f"{i:05d}" for i in range(len(self.mixes))]

    def __len__(self) -> int:
        return len(self.mixes)

    def __getitem__(self, index: int) -> Example:
        return Example(self.names[index], self.mixes[index], self.sources[index])

    def __iter__(self) -> Iterator[Example]:
        return (self[i] for i in range(len(self)))


class MixtureSubset:
    """Some mixtures of a :class:`MixtureSet`, in the set's order (a view: nothing is copied).

    ``MixtureSubset.seeded(mixtures, n, seed)`` draws a fixed subset, the same for a given seed
    on every machine, so that a quick score is comparable across runs and models.
    """

    def __init__(self, mixtures: MixtureSet, indices: Sequence[int]) -> None:
        self.mixtures, self.indices = mixtures, list(indices)

    @classmethod
    def seeded(cls, mixtures: MixtureSet, n: int, seed: int = 0) -> MixtureSubset:
        """``n`` mixtures drawn without replacement under ``seed`` (all of them if ``n`` is larger)."""
        import random

        total = len(mixtures)
        return cls(mixtures, sorted(random.Random(seed).sample(range(total), min(n, total))))

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Example:
        return self.mixtures[self.indices[index]]
