"""Budgets that do not depend on the clock, the training cost they are counted in, learning curves."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from separena import Budget, Registry, SeparenaError
from separena.cost import BACKWARD_FACTOR, count_macs, training_cost
from separena.data.tones import tones_2mix
from separena.train import curve_fractions, train


@pytest.fixture
def registry(fixture_plugin) -> Registry:
    return Registry(entry_points=False, core_registry=False, plugins=[fixture_plugin("good_minimal")])


@settings(max_examples=60, deadline=None)
@given(steps=st.one_of(st.none(), st.integers(1, 10**6)), examples=st.one_of(st.none(), st.integers(1, 10**7)),
       macs=st.one_of(st.none(), st.floats(1e6, 1e15)), batch=st.integers(1, 64), per_example=st.floats(1e3, 1e10))
def test_the_first_limit_reached_sets_the_steps(steps, examples, macs, batch, per_example) -> None:
    budget = Budget(steps=steps, examples=examples, macs=macs, batch_size=batch)
    limit, kind = budget.max_steps(per_example)
    candidates = {"steps": steps, "examples": examples and math.ceil(examples / batch),
                  "macs": macs and math.ceil(macs / (per_example * batch))}
    candidates = {k: max(1, v) for k, v in candidates.items() if v}
    if not candidates:
        assert (limit, kind) == (None, None) and not budget.deterministic
    else:
        assert limit == min(candidates.values()) and candidates[kind] == limit and budget.deterministic


def test_a_macs_budget_needs_a_countable_model() -> None:
    with pytest.raises(SeparenaError, match="budget.macs: expected a model whose training MACs can be counted"):
        Budget(macs=1e9).max_steps(0.0)


def test_training_cost_counts_three_forward_passes_and_changes_nothing(registry) -> None:
    config = registry.model_config("tiny-masker")
    torch.manual_seed(0)
    model = config.build()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    cost = training_cost(model, 2, batch_size=4, segment_samples=4000)
    assert torch.equal(torch.get_rng_state(), rng)  # training afterwards draws the same numbers
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    mix = torch.zeros(1, 4000)
    assert cost.forward_macs_per_example == count_macs(model.train(), mix) > 0
    assert cost.macs_per_example == BACKWARD_FACTOR * cost.forward_macs_per_example
    assert cost.activation_mb > 0 and cost.state_mb == pytest.approx(
        4 * sum(p.numel() * 4 for p in model.parameters()) / 2**20)
    double = training_cost(model, 2, batch_size=8, segment_samples=4000)
    assert double.activation_mb == pytest.approx(2 * cost.activation_mb, rel=0.2)  # per-example activations


@pytest.mark.parametrize("kind", ["macs", "examples", "steps"])
def test_deterministic_budgets_train_the_computed_steps(registry, kind) -> None:
    config = registry.model_config("tiny-masker")
    probe, _ = train(config, tones_2mix(), Budget(steps=1, batch_size=2), segment_seconds=0.25, progress=False)
    per_example = training_cost(probe, 2, 2, 2000).macs_per_example
    limits = {"macs": {"macs": 7.5 * 2 * per_example}, "examples": {"examples": 15}, "steps": {"steps": 8}}
    _, result = train(config, tones_2mix(), Budget(batch_size=2, minutes=10, **limits[kind]), segment_seconds=0.25,
                      progress=False)
    assert result.stopped_by == kind and result.steps == 8
    assert result.examples == 16 and result.macs == pytest.approx(16 * per_example)


def test_learning_curve_points_are_geometric_and_not_charged_to_the_budget(registry) -> None:
    data = tones_2mix(n_test=4)
    _, result = train(registry.model_config("tiny-masker"), data, Budget(steps=64, batch_size=2),
                      segment_seconds=0.25, progress=False, curve_set=data.test)
    assert curve_fractions() == [1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1]
    assert [p["step"] for p in result.curve] == [2, 4, 8, 16, 32, 64]
    assert [p["examples"] for p in result.curve] == [4, 8, 16, 32, 64, 128]
    assert all(math.isfinite(p["si_sdri"]) for p in result.curve)
    assert result.curve[-1]["seconds"] == result.seconds
    assert [p["seconds"] for p in result.curve] == sorted(p["seconds"] for p in result.curve)
    plain = train(registry.model_config("tiny-masker"), data, Budget(steps=64, batch_size=2), segment_seconds=0.25,
                  progress=False)[1]
    assert plain.losses == result.losses  # scoring the curve does not change training


def test_a_clock_budget_says_so(registry) -> None:
    _, result = train(registry.model_config("tiny-masker"), tones_2mix(), Budget(minutes=0.01, batch_size=2),
                      segment_seconds=0.25, progress=False)
    assert result.stopped_by == "minutes" and result.cpu_seconds > 0 and result.load_average >= 0


def _live_tensors() -> dict[int, torch.Tensor]:
    import gc

    gc.collect()
    return {id(t): t for t in gc.get_objects() if isinstance(t, torch.Tensor)}


def test_training_cost_keeps_nothing_alive(registry) -> None:
    # Counting what autograd saves must not keep it: a pack hook that returns a graph output
    # as-is closes a cycle through C++ (output -> grad_fn -> saved tensor -> output) that the
    # garbage collector cannot see, and every measured run would leak a training step's
    # activations (TF-GridNet's 6.9 GB ran a bench process out of memory).
    torch.manual_seed(0)
    model = registry.model_config("tiny-masker").build()
    before = _live_tensors()
    cost = training_cost(model, 2, batch_size=4, segment_samples=4000)
    leaked = [t for i, t in _live_tensors().items() if i not in before]
    assert cost.activation_mb > 0
    assert not leaked, f"{len(leaked)} tensors ({sum(t.nbytes for t in leaked) / 2**20:.2f} MB) outlive training_cost"
