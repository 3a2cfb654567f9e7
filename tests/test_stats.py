"""The leaderboard's statistics: bootstrap intervals, paired tests, Holm, rank ranges, Kendall's tau."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from separena.bench.stats import bootstrap_interval, compare_pairs, holm, rank_agreement, rank_ranges


def _scores(n: int = 200, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(5.0, 3.0, n)


def test_a_known_difference_is_significant_with_the_right_sign() -> None:
    a = _scores()
    b = a - 0.5 + np.random.default_rng(1).normal(0, 0.3, len(a))
    (test,) = compare_pairs({"a": a, "b": b})
    assert test.significant and test.p_adjusted < 1e-6
    assert test.mean_difference == pytest.approx(0.5, abs=0.05)
    assert test.win_rate > 0.9 and test.n == 200


def test_identical_scores_and_pure_noise_are_not_significant() -> None:
    a = _scores()
    (same,) = compare_pairs({"a": a, "b": a.copy()})
    assert not same.significant and same.p_value == 1.0 and same.win_rate == 0.5
    noise = np.random.default_rng(7).normal(0, 0.3, len(a))
    (noisy,) = compare_pairs({"a": a, "b": a + noise - noise.mean()})
    assert not noisy.significant


def test_holm_matches_a_hand_computed_example() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_rank_ranges_share_a_range_between_ties() -> None:
    a = _scores()
    b = a - 2.0 + np.random.default_rng(2).normal(0, 0.2, len(a))
    c = b.copy()
    tests = compare_pairs({"A": a, "B": b, "C": c})
    means = {"A": a.mean(), "B": b.mean(), "C": c.mean()}
    assert rank_ranges(means, tests) == {"A": (1, 1), "B": (2, 3), "C": (2, 3)}
    tied = compare_pairs({"A": a, "B": a.copy(), "C": a.copy()})
    assert rank_ranges({"A": 1.0, "B": 1.0, "C": 1.0}, tied) == {"A": (1, 3), "B": (1, 3), "C": (1, 3)}


def test_bootstrap_interval_contains_the_mean_and_shrinks_with_more_mixtures() -> None:
    small, large = bootstrap_interval(_scores(50)), bootstrap_interval(_scores(800))
    for ci in (small, large):
        assert ci.low < ci.mean < ci.high
    assert large.high - large.low < (small.high - small.low) / 2
    assert bootstrap_interval(_scores(50), seed=3) == bootstrap_interval(_scores(50), seed=3)  # seeded


def test_seeds_that_differ_widen_the_interval() -> None:
    base = _scores()
    seeds = np.stack([base - 1.0, base, base + 1.0])  # a seed offset of +-1 dB
    two_way = bootstrap_interval(seeds)
    one_way = bootstrap_interval(seeds.mean(0))
    assert two_way.mean == pytest.approx(one_way.mean)
    assert two_way.high - two_way.low > 1.5 * (one_way.high - one_way.low)


def test_bootstrap_interval_covers_the_true_mean_about_95_percent() -> None:
    rng = np.random.default_rng(11)
    inside = 0
    for i in range(200):
        ci = bootstrap_interval(rng.normal(1.0, 2.0, 100), n_boot=500, seed=i)
        inside += ci.low <= 1.0 <= ci.high
    assert 0.88 <= inside / 200 <= 0.99


def test_bad_input_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="finite"):
        bootstrap_interval([1.0, float("nan")])
    with pytest.raises(ValueError, match="same mixtures.*'a': 3.*'b': 2"):
        compare_pairs({"a": [1, 2, 3], "b": [1, 2]})
    with pytest.raises(ValueError, match="finite.*b"):
        compare_pairs({"a": [1, 2], "b": [1, float("inf")]})


def test_rank_agreement_lists_exactly_the_swapped_pairs() -> None:
    a = {"m1": 3.0, "m2": 2.0, "m3": 1.0, "m4": 0.0}
    same = rank_agreement(a, dict(a))
    assert same.tau == pytest.approx(1.0) and same.swapped == () and same.n == 4
    swapped = rank_agreement(a, {"m1": 3.0, "m2": 1.0, "m3": 2.0, "m4": 0.0, "other": 9.0})
    assert swapped.swapped == (("m2", "m3"),) and swapped.n == 4
    assert swapped.tau == pytest.approx(4 / 6)
    lonely = rank_agreement({"m1": 1.0}, {"m1": 2.0})
    assert lonely.n == 1 and np.isnan(lonely.tau)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(-50, 50), st.floats(-50, 50)), min_size=2, max_size=12, unique_by=lambda t: t[0]))
def test_rank_agreement_is_bounded_and_symmetric(pairs: list[tuple[float, float]]) -> None:
    a = {f"m{i}": x for i, (x, _) in enumerate(pairs)}
    b = {f"m{i}": y for i, (_, y) in enumerate(pairs)}
    ab, ba = rank_agreement(a, b), rank_agreement(b, a)
    if not np.isnan(ab.tau):
        assert -1.0 - 1e-9 <= ab.tau <= 1.0 + 1e-9
        assert ab.tau == pytest.approx(ba.tau)
    assert len(ab.swapped) == len(ba.swapped)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-30, 30), min_size=2, max_size=40), st.floats(0.1, 5.0))
def test_a_constant_shift_moves_the_interval_by_that_shift(values: list[float], shift: float) -> None:
    x = np.array(values)
    base, moved = bootstrap_interval(x, n_boot=200), bootstrap_interval(x + shift, n_boot=200)
    assert moved.low == pytest.approx(base.low + shift, abs=1e-9)
    assert moved.high == pytest.approx(base.high + shift, abs=1e-9)
