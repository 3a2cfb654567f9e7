"""The contract kit every dataset passes (the datasets' counterpart of the architecture kit in
:mod:`separena.testing`).

A :class:`DatasetCase` names a registered dataset, tiny parameters that build in seconds (or a
function of a scratch folder that writes a tiny corpus there and returns them), and parameter
changes that give other content. Each ``check_*`` raises ``AssertionError`` naming the
dataset, the check and the failing value:

- ``check_shapes_and_rate``: the sample rate is the one asked for; training batches are
  ``mix [batch, time]`` and ``sources [batch, n_src, time]`` float32 and finite; every
  evaluation item has ``mix [time]`` and ``sources [n_src, time]`` of one length;
- ``check_train_deterministic``: the training stream is a pure function of ``(seed, step)``:
  the same seed and step give identical batches, another step or seed others;
- ``check_mixtures_are_sums``: mixtures are the sum of their sources wherever the data
  promises it (:attr:`SeparationData.mix_is_sum`, :attr:`SeparationData.train_mix_is_sum`);
- ``check_name_follows_content``: the same parameters give the same name and content, the
  changed ones other content and another name (stored runs and caches are keyed by the name).

A test file runs them over cases with :func:`parametrize_with_dataset_checks`.
"""

from __future__ import annotations

import inspect
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import MixtureSet, SeparationData

__all__ = ["DatasetCase", "DATASET_CHECKS", "check_dataset", "parametrize_with_dataset_checks"]

BATCH, SEGMENT_SECONDS, ITEMS = 3, 0.25, 3  # batches checked; evaluation items checked per set
SEEDS_STEPS = ((0, 0), (0, 1), (1, 0))


@dataclass(frozen=True)
class DatasetCase:
    """A registered dataset with tiny parameters.

    ``params``: keyword arguments of the builder, or a function of a scratch folder that writes
    what the dataset reads (a fake corpus) and returns them. Give generated datasets a
    ``cache_dir`` in the scratch folder. ``changes``: overrides that change the content (e.g.
    ``{"seed": 1}``): the data name must change with them.
    """

    dataset: str
    params: Mapping[str, Any] | Callable[[Path], Mapping[str, Any]] = field(default_factory=dict)
    changes: Mapping[str, Any] = field(default_factory=lambda: {"seed": 1})

    def resolve(self, scratch: Path) -> dict[str, Any]:
        return dict(self.params(scratch) if callable(self.params) else self.params)


def _eval_sets(data: SeparationData) -> dict[str, MixtureSet]:
    return {"valid": data.valid, **data.test_sets()}


def _items(ms: MixtureSet) -> list:
    n = len(ms)
    return [ms[i] for i in sorted({0, n // 2, n - 1})][:ITEMS] if n else []


def _segment(data: SeparationData) -> int:
    return max(1, int(SEGMENT_SECONDS * data.sample_rate))


def check_shapes_and_rate(name: str, data: SeparationData, params: Mapping[str, Any]) -> None:
    """Rate as asked; shapes, dtypes and lengths of training batches and evaluation items."""
    if "sample_rate" in params and data.sample_rate != params["sample_rate"]:
        raise AssertionError(f"{name}: sample_rate {data.sample_rate}, asked for {params['sample_rate']}")
    if not isinstance(data.name, str) or "@" not in data.name:
        raise AssertionError(f"{name}: data name {data.name!r}; expected '<dataset>@<content hash>'")
    if data.source_names is not None and len(data.source_names) != data.n_src:
        raise AssertionError(f"{name}: {len(data.source_names)} source names for n_src={data.n_src}")
    n = _segment(data)
    mix, src = data.train.batch(0, 0, BATCH, n)
    if tuple(mix.shape) != (BATCH, n) or tuple(src.shape) != (BATCH, data.n_src, n):
        raise AssertionError(f"{name}: train batch shapes {tuple(mix.shape)}, {tuple(src.shape)}; "
                             f"expected ({BATCH}, {n}), ({BATCH}, {data.n_src}, {n})")
    for what, t in (("mix", mix), ("sources", src)):
        if t.dtype != torch.float32 or not torch.isfinite(t).all():
            raise AssertionError(f"{name}: train {what} is {t.dtype}, finite={bool(torch.isfinite(t).all())}; "
                                 f"expected finite float32")
    for split, ms in _eval_sets(data).items():
        if len(ms) < 1:
            raise AssertionError(f"{name}: {split} set is empty")
        rate = getattr(ms, "sample_rate", data.sample_rate)
        if rate != data.sample_rate:
            raise AssertionError(f"{name}: {split} set at {rate} Hz, the data at {data.sample_rate} Hz")
        for ex in _items(ms):
            if ex.mix.ndim != 1 or tuple(ex.sources.shape) != (data.n_src, ex.mix.shape[0]) or ex.mix.shape[0] < 1:
                raise AssertionError(f"{name}: {split}/{ex.name}: mix {tuple(ex.mix.shape)}, sources "
                                     f"{tuple(ex.sources.shape)}; expected [time] and [{data.n_src}, time]")
            if not (torch.isfinite(ex.mix).all() and torch.isfinite(ex.sources).all()):
                raise AssertionError(f"{name}: {split}/{ex.name}: non-finite samples")


def check_train_deterministic(name: str, data: SeparationData, params: Mapping[str, Any]) -> None:
    """Same ``(seed, step)``: identical batches; another step or seed: other batches."""
    n = _segment(data)
    batches = {}
    for seed, step in SEEDS_STEPS:
        a, b = data.train.batch(seed, step, BATCH, n), data.train.batch(seed, step, BATCH, n)
        if not (torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])):
            raise AssertionError(f"{name}: two batches of seed {seed}, step {step} differ; expected identical")
        batches[seed, step] = a
    ref = batches[SEEDS_STEPS[0]]
    for key in SEEDS_STEPS[1:]:
        if torch.equal(batches[key][1], ref[1]):
            raise AssertionError(f"{name}: seed/step {key} gives the batch of {SEEDS_STEPS[0]}; expected another")


def check_mixtures_are_sums(name: str, data: SeparationData, params: Mapping[str, Any]) -> None:
    """``mix == sources.sum(0)`` (within 16-bit rounding) wherever the data promises it."""
    tol = (data.n_src + 1) * 2.0 ** -15  # one 16-bit step per file read
    if data.train_mix_is_sum:
        mix, src = data.train.batch(0, 0, BATCH, _segment(data))
        worst = float((mix - src.sum(1)).abs().max())
        if worst > tol:
            raise AssertionError(f"{name}: training mixtures differ from the sum of their sources by {worst:.3g}; "
                                 f"expected <= {tol:.1e} (train_mix_is_sum=True)")
    if data.mix_is_sum:
        for split, ms in _eval_sets(data).items():
            for ex in _items(ms):
                worst = float((ex.mix.double() - ex.sources.double().sum(0)).abs().max())
                if worst > tol:
                    raise AssertionError(f"{name}: {split}/{ex.name}: mixture differs from the sum of its sources "
                                         f"by {worst:.3g}; expected <= {tol:.1e} (mix_is_sum=True)")


def _fingerprint(data: SeparationData) -> tuple:
    ex = data.test[0]  # mixtures too: noise added to the mixture only is content
    return (*data.train.batch(0, 0, BATCH, _segment(data)), len(data.test), ex.name, ex.mix, ex.sources)


def _same(a: tuple, b: tuple) -> bool:
    return all(torch.equal(x, y) if isinstance(x, torch.Tensor) else x == y for x, y in zip(a, b))


def check_name_follows_content(name: str, data: SeparationData, params: Mapping[str, Any],
                               build: Callable[..., SeparationData], changes: Mapping[str, Any]) -> None:
    """Rebuilt with the same parameters: same name and content; with ``changes``: other
    content and another name."""
    again = build(**params)
    if again.name != data.name or not _same(_fingerprint(again), _fingerprint(data)):
        raise AssertionError(f"{name}: a rebuild with the same parameters gives {again.name!r} "
                             f"(content {'equal' if _same(_fingerprint(again), _fingerprint(data)) else 'different'}); "
                             f"expected {data.name!r} and the same content")
    other = build(**{**params, **changes})
    if _same(_fingerprint(other), _fingerprint(data)):
        raise AssertionError(f"{name}: changes {dict(changes)} leave the content as it was; expected a change "
                             f"that changes the content (fix the case)")
    if other.name == data.name:
        raise AssertionError(f"{name}: changes {dict(changes)} change the content but not the name {data.name!r}")


DATASET_CHECKS: dict[str, Callable[..., None]] = {
    c.__name__: c for c in (check_shapes_and_rate, check_train_deterministic, check_mixtures_are_sums,
                            check_name_follows_content)
}


def _run(check: str, case: DatasetCase, build: Callable[..., SeparationData], scratch: Path, built: dict) -> None:
    key = (case.dataset, str(scratch))
    if key not in built:  # one build (and one fake corpus) per case and scratch folder
        params = case.resolve(scratch)
        built[key] = params, build(**params)
    params, data = built[key]
    fn = DATASET_CHECKS[check]
    extra = (build, case.changes) if "build" in inspect.signature(fn).parameters else ()
    fn(case.dataset, data, params, *extra)


def check_dataset(case: DatasetCase, registry: Any = None, scratch: str | Path | None = None) -> None:
    """Run every check on ``case``; raise the first failure."""
    from ..registry import default_registry

    build = (registry or default_registry()).dataset(case.dataset).builder()
    with tempfile.TemporaryDirectory() as tmp:
        built: dict = {}
        for check in DATASET_CHECKS:
            _run(check, case, build, Path(scratch or tmp), built)


def parametrize_with_dataset_checks(cases: Sequence[DatasetCase], registry: Any = None) -> Callable[..., None]:
    """A pytest test function over ``cases x DATASET_CHECKS`` with ids ``dataset::check``; each
    case is built once per test module (in a scratch folder of ``tmp_path_factory``)."""
    import pytest

    from ..registry import default_registry

    registry = registry or default_registry()
    by_name = {c.dataset: c for c in cases}
    params = [pytest.param(c.dataset, check, id=f"{c.dataset}::{check}") for c in cases for check in DATASET_CHECKS]
    built: dict = {}
    scratch: dict[str, Path] = {}

    @pytest.mark.parametrize(("dataset", "check"), params)
    def test_dataset_contract(dataset: str, check: str, tmp_path_factory: pytest.TempPathFactory) -> None:
        folder = scratch.get(dataset) or scratch.setdefault(dataset, tmp_path_factory.mktemp(dataset))
        _run(check, by_name[dataset], registry.dataset(dataset).builder(), folder, built)

    return test_dataset_contract
