"""The leaderboard says which differences are real: synthetic separators whose scores differ by a
known amount are told apart, identical ones share a rank range (through the whole bench)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import Tensor

from separena import ArchitectureSpec, DatasetSpec, Registry, Separator, SeparatorOutput, hookimpl
from separena.bench import ResultStore, leaderboard, run_suite
from separena.bench.leaderboard import pairwise_tests, records
from separena.data import SeparationData, TensorMixtureSet

SUITE_YAML = """
presets:
  leak-10:
    architecture: leaky-oracle
    params: {leak: 0.1}
  leak-10-again:
    architecture: leaky-oracle
    params: {leak: 0.1, copy: 1}
  leak-20:
    architecture: leaky-oracle
    params: {leak: 0.2}
suites:
  leaks:
    dataset: tones-24
    sample_rate: 8000
    budget: {steps: 1}
    models: [leak-10, leak-10-again, leak-20]
"""


class LeakyOracle(Separator):
    """Each estimate is its reference plus ``leak`` times the other source: with orthogonal
    sources its SI-SDR is ``-20 log10(leak)`` plus the sources' level ratio, so two leaks differ
    by ``20 log10(leak_b / leak_a)`` dB on every mixture."""

    needs_references = True

    def __init__(self, leak: float) -> None:
        super().__init__(n_src=2, sample_rate=8000)
        self.leak = leak

    def forward(self, mix: Tensor, references: Tensor) -> SeparatorOutput:
        return SeparatorOutput(estimates=references + self.leak * references.flip(1))


def leaky_oracle(leak: float = 0.1, copy: int = 0) -> LeakyOracle:
    """An oracle that leaks the other source.

    Args:
        leak: amplitude of the other source in each estimate.
        copy: no effect on the model; two presets that differ only here are two runs with
            identical scores (identical presets would share one run).
    """
    return LeakyOracle(leak)


def tones_24(sample_rate: int = 8000) -> SeparationData:
    """24 mixtures of two tones of different integer frequencies over 0.5 s (orthogonal)."""
    t = torch.arange(4000) / sample_rate
    gen = torch.Generator().manual_seed(0)
    mixes, sources = [], []
    for i in range(24):
        f1, f2 = 200 + 10 * i, 900 + 14 * i
        level = 0.5 + torch.rand(1, generator=gen).item()
        pair = torch.stack([torch.sin(2 * math.pi * f1 * t), level * torch.sin(2 * math.pi * f2 * t)])
        sources.append(0.1 * pair)
        mixes.append(0.1 * pair.sum(0))
    mixtures = TensorMixtureSet(mixes, sources)
    return SeparationData("tones-24@1", sample_rate, 2, train=None, valid=mixtures, test=mixtures)


class Fixture:
    @hookimpl
    def separena_register_architectures(self) -> list[ArchitectureSpec]:
        return [ArchitectureSpec("leaky-oracle", leaky_oracle, "classic", "reference plus a leak",
                                 reference="test", trainable=False, objective=None)]

    @hookimpl
    def separena_register_datasets(self) -> list[DatasetSpec]:
        return [DatasetSpec("tones-24", tones_24, "24 orthogonal two-tone mixtures")]


@pytest.fixture
def stored(tmp_path: Path):
    path = tmp_path / "leaks.yaml"
    path.write_text(SUITE_YAML)
    registry = Registry(entry_points=False, core_registry=False, registry_files=[path])
    registry.register(Fixture(), name="leaks")
    with ResultStore(tmp_path / "bench.sqlite") as store:
        run_suite(registry, "leaks", store=store, progress=False)
        yield store


def test_a_known_difference_is_significant_and_identical_scores_are_not(stored: ResultStore) -> None:
    runs = stored.runs(suite="leaks")
    tests = {frozenset((t.a, t.b)): t for t in pairwise_tests(runs, "test")}
    known = 20 * math.log10(2)  # leak 0.2 against 0.1: 6.02 dB on every mixture
    for other in ("leak-10", "leak-10-again"):
        t = tests[frozenset((other, "leak-20"))]
        diff = t.mean_difference if t.a == other else -t.mean_difference
        assert diff == pytest.approx(known, abs=0.1) and t.significant and t.n == 24
    same = tests[frozenset(("leak-10", "leak-10-again"))]
    assert same.mean_difference == 0.0 and same.p_value == 1.0 and not same.significant
    rows = {r.model: r for r in leaderboard(runs, stored.failures(suite="leaks"))}
    assert rows["leak-10"].rank == rows["leak-10-again"].rank == (1, 2)
    assert rows["leak-20"].rank == (3, 3)
    q = rows["leak-20"].quality["test"]
    assert q["si_sdri_low"] < q["si_sdri_mean"] < q["si_sdri_high"]
    rec = {r["model"]: r for r in records(list(rows.values()), "leaks")}
    assert (rec["leak-10"]["rank_best"], rec["leak-10"]["rank_worst"], rec["leak-10"]["seeds"]) == (1, 2, 1)


def test_source_groups_score_each_source_under_its_speakers_package():
    from separena.bench.leaderboard import source_groups
    from separena.bench.store import StoredRun
    from separena.data.real import speaker_package

    def run(seed: int, scores: list[list[float]]) -> StoredRun:
        names = ["00000__klettres-data-en__hedgewars-data-pl", "00001__kajongg-male1__klettres-data-uk"]
        return StoredRun(f"h{seed}", "s", "m", seed, float(seed), {"sets": {"transfer": {
            "names": names, "si_sdri": scores}}})

    packages = ("klettres-data", "hedgewars-data", "kajongg")
    groups = source_groups([run(0, [[1.0, 2.0], [3.0, 5.0]]), run(1, [[3.0, 4.0], [5.0, 7.0]])], "transfer",
                           lambda spk: speaker_package(spk, packages))
    assert groups == {"m": {"hedgewars-data": (3.0, 2), "kajongg": (4.0, 2), "klettres-data": (4.0, 4)}}
    assert speaker_package("ktuberling-data-sv", packages) is None
    assert speaker_package("asterisk-prompt-fr-armelle-fr-armelle", ("asterisk-prompt-fr", "asterisk-prompt-fr-armelle")) \
        == "asterisk-prompt-fr-armelle"


def test_improvement_by_input_groups_the_sources_every_model_scored_by_their_input_si_sdr():
    from separena.bench.leaderboard import improvement_by_input
    from separena.bench.store import StoredRun

    level = [[-3.0, -2.0], [-1.0, 0.0], [1.0, 2.0]]  # each source's input SI-SDR, in the references' order

    def run(model: str, seed: int, gain: list[list[float]]) -> StoredRun:
        sdr = [[x + g for x, g in zip(xs, row)] for xs, row in zip(level, gain)]
        return StoredRun(f"{model}{seed}", "s", model, seed, float(seed), {"sets": {"test": {
            "names": ["m0", "m1", "m2"], "si_sdr": sdr, "si_sdri": gain}}})

    runs = [run("a", 0, [[x + 10 for x in row] for row in level]),  # seeds averaged: input + 11
            run("a", 1, [[x + 12 for x in row] for row in level]),
            run("b", 0, [[5.0, 5.0], [5.0, 5.0], [5.0, math.nan]])]  # the last source has no score of b's
    found = improvement_by_input(runs, groups=3)
    assert found is not None
    assert found.sizes == [2, 2, 1] and found.edges == [-3.0, -2.0, 0.0, 1.0] and found.inputs == [-2.5, -0.5, 1.0]
    assert found.means == {"a": [8.5, 10.5, 12.0], "b": [5.0, 5.0, 5.0]}
    assert improvement_by_input(runs, models=["a"], groups=3).sizes == [2, 2, 2]  # b's gap no longer matters
    assert improvement_by_input(runs, set_name="valid") is None
