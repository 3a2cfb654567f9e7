"""How sure a leaderboard is: bootstrap intervals, paired tests, rank ranges, rank agreement.

Every model of a suite is scored on the same test mixtures, so models are compared *paired*,
mixture by mixture: a small but consistent difference is then detectable where two overlapping
intervals would hide it. The tests are two-sided Wilcoxon signed-rank tests (no normality
assumed: per-mixture SI-SDRi is skewed), Holm-corrected over all pairs of a table, and a
model's rank range counts the models that are significantly better and worse than it. Every
random draw comes from a seeded generator, so the same scores always give the same table.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["Interval", "bootstrap_interval", "PairTest", "compare_pairs", "holm", "rank_ranges",
           "RankAgreement", "rank_agreement"]


@dataclass(frozen=True)
class Interval:
    """A mean score and its percentile bootstrap interval."""

    mean: float
    low: float
    high: float


def bootstrap_interval(scores: ArrayLike, *, confidence: float = 0.95, n_boot: int = 2000,
                       seed: int = 0) -> Interval:
    """Percentile bootstrap interval of the mean score.

    Args:
        scores: ``[mixtures]``, or ``[seeds, mixtures]`` where every seed scored the same
            mixtures: then seeds and mixtures are both resampled (the same mixtures for every
            drawn seed), so the interval covers the spread over seeds too.
        confidence: coverage of the interval, in (0, 1).
        n_boot: bootstrap draws.
        seed: seed of the draws (the interval is a pure function of the arguments).

    Returns:
        The mean of all scores and the interval's bounds.

    Raises:
        ValueError: on NaN or infinite scores, no scores, more than two dimensions, a
            confidence outside (0, 1) or fewer than one draw.
    """
    x = np.asarray(scores, dtype=float)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.size == 0:
        raise ValueError(f"bootstrap_interval: expected scores [mixtures] or [seeds, mixtures], "
                         f"got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"bootstrap_interval: expected finite scores, got {int(np.isnan(x).sum())} NaN and "
                         f"{int(np.isinf(x).sum())} infinite of {x.size}")
    if not 0 < confidence < 1 or n_boot < 1:
        raise ValueError(f"bootstrap_interval: expected 0 < confidence < 1 and n_boot >= 1, "
                         f"got confidence={confidence}, n_boot={n_boot}")
    mean = float(x.mean())
    if np.ptp(x) == 0:
        # resampled means of equal values can differ from the mean in the last bit
        return Interval(mean, mean, mean)
    n_seeds, n_mix = x.shape
    rng = np.random.default_rng(seed)
    mixtures = rng.integers(0, n_mix, size=(n_boot, n_mix))
    if n_seeds == 1:
        means = x[0][mixtures].mean(1)
    else:
        drawn = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
        # counts per seed instead of x[drawn]: memory stays [n_boot, mixtures] however many seeds
        counts = np.bincount((drawn + n_seeds * np.arange(n_boot)[:, None]).ravel(),
                             minlength=n_boot * n_seeds).reshape(n_boot, n_seeds)
        rows = counts @ x / n_seeds  # each draw's mean over its drawn seeds, per mixture
        means = np.take_along_axis(rows, mixtures, axis=1).mean(1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    # on a small skewed sample the percentile bounds can miss the mean itself by a hair; an
    # interval that excludes its own point estimate would read as a bug in the table
    return Interval(mean, float(min(low, mean)), float(max(high, mean)))


@dataclass(frozen=True)
class PairTest:
    """Two models compared on the same mixtures."""

    a: str
    b: str
    mean_difference: float  # mean of a - b over the shared mixtures (dB)
    win_rate: float  # share of mixtures where a scores higher than b (ties count half)
    p_value: float  # two-sided Wilcoxon signed-rank p-value
    p_adjusted: float  # Holm-corrected over all pairs of the comparison
    significant: bool  # p_adjusted < alpha
    n: int  # shared mixtures


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values.

    Args:
        p_values: one raw p-value per test of the family.

    Returns:
        The adjusted p-values, in the order given.
    """
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        # the running maximum keeps the adjusted values in the order of the raw ones
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def _wilcoxon(diff: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences (1.0 when nothing differs)."""
    if len(diff) < 2 or not np.any(diff):
        return 1.0
    # the exact distribution assumes no zeros and no ties; choosing the method here keeps the
    # p-values the same across scipy versions, whose "auto" rules differ
    exact = len(diff) <= 50 and np.all(diff) and len(np.unique(np.abs(diff))) == len(diff)
    from scipy import stats  # here: a third of a second that listing models or separating never needs

    with warnings.catch_warnings():
        # few mixtures with ties: the normal approximation is the only p-value there is
        warnings.filterwarnings("ignore", message="Sample size too small", category=UserWarning)
        result = stats.wilcoxon(diff, zero_method="zsplit", method="exact" if exact else "approx")
    return float(result.pvalue)


def compare_pairs(scores: Mapping[str, ArrayLike], *, alpha: float = 0.05) -> list[PairTest]:
    """Every pair of models compared mixture by mixture.

    Args:
        scores: model -> per-mixture scores, aligned (item ``i`` is the same mixture for every
            model; average seeds per mixture first).
        alpha: family-wise error rate of the whole table.

    Returns:
        One test per unordered pair, ``a`` before ``b`` in the order of ``scores``.

    Raises:
        ValueError: if a model's scores are not 1-D, the models scored different numbers of
            mixtures, or a score is NaN or infinite.
    """
    arrays = {name: np.asarray(v, dtype=float) for name, v in scores.items()}
    shapes = {name: v.shape for name, v in arrays.items() if v.ndim != 1}
    if shapes:
        raise ValueError(f"compare_pairs: expected 1-D per-mixture scores (seeds averaged), got shapes {shapes}")
    lengths = {name: len(v) for name, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"compare_pairs: expected the same mixtures for every model, got lengths {lengths}")
    bad = [name for name, v in arrays.items() if not np.isfinite(v).all()]
    if bad:
        raise ValueError(f"compare_pairs: expected finite scores, got NaN or infinity for {', '.join(bad)}")
    raw = []
    for a, b in itertools.combinations(arrays, 2):
        diff = arrays[a] - arrays[b]
        mean, win = (float(diff.mean()), float(np.mean((diff > 0) + 0.5 * (diff == 0)))) if len(diff) \
            else (math.nan, math.nan)
        raw.append((a, b, mean, win, _wilcoxon(diff), len(diff)))
    adjusted = holm([r[4] for r in raw])
    return [PairTest(a, b, mean, win, p, p_adj, p_adj < alpha, n)
            for (a, b, mean, win, p, n), p_adj in zip(raw, adjusted)]


def rank_ranges(means: Mapping[str, float], tests: Sequence[PairTest]) -> dict[str, tuple[int, int]]:
    """Rank range per model, 1 = best; models that cannot be told apart share a range.

    Args:
        means: model -> mean score (higher is better); the models to rank.
        tests: pairwise tests; those naming a model not in ``means`` are ignored.

    Returns:
        model -> (1 + models significantly better, models - models significantly worse).
    """
    better = {m: 0 for m in means}
    worse = {m: 0 for m in means}
    for t in tests:
        # the direction comes from the test's own paired data, the mixtures it was run on
        if not t.significant or t.a not in means or t.b not in means or t.mean_difference == 0:
            continue
        winner, loser = (t.a, t.b) if t.mean_difference > 0 else (t.b, t.a)
        better[loser] += 1
        worse[winner] += 1
    n = len(means)
    return {m: (1 + better[m], n - worse[m]) for m in means}


@dataclass(frozen=True)
class RankAgreement:
    """How well two rankings of the same models agree."""

    tau: float  # Kendall's tau-b
    p_value: float
    n: int  # models ranked in both
    swapped: tuple[tuple[str, str], ...]  # pairs ordered differently; the first is better in `a`


def rank_agreement(a: Mapping[str, float], b: Mapping[str, float]) -> RankAgreement:
    """Kendall's tau-b between the orderings of the models in both rankings.

    Args:
        a: model -> score, higher is better.
        b: model -> score on another test set, metric or run, higher is better.

    Returns:
        Tau, its p-value, the number of shared models and the pairs the two order
        oppositely (ties in either are not swaps); tau and p are NaN below two shared models.
    """
    shared = [m for m in a if m in b]
    if len(shared) < 2:
        return RankAgreement(math.nan, math.nan, len(shared), ())
    from scipy import stats

    x, y = [a[m] for m in shared], [b[m] for m in shared]
    result = stats.kendalltau(x, y)
    swapped = []
    for i, j in itertools.combinations(range(len(shared)), 2):
        if (x[i] - x[j]) * (y[i] - y[j]) < 0:
            swapped.append((shared[i], shared[j]) if x[i] > x[j] else (shared[j], shared[i]))
    return RankAgreement(float(result.statistic), float(result.pvalue), len(shared), tuple(swapped))
