"""The statistics of every table and plot: the interquartile mean with its 95% stratified-bootstrap
CI (rliable, the paper's protocol), a bootstrap band of the mean across seeds, the one-sided
rank-sum test of HELM against a baseline, and curves interpolated onto a common grid of steps.

Every resampling is seeded, so a table regenerated from the same runs is the same table. Nothing
here plots; ``helmrl.analysis.curves`` draws with these numbers.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np


def iqm(values: np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50% (rliable's ``aggregate_iqm``)."""
    from scipy.stats import trim_mean

    return float(trim_mean(np.asarray(values, dtype=float), proportiontocut=0.25, axis=None))


def iqm_with_ci(finals: np.ndarray, reps: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Interquartile mean of the runs' final returns and its 95% stratified-bootstrap CI (rliable).

    rliable draws its resamples from numpy's global RNG whatever ``random_state`` it is given, so
    that generator is seeded here for the call and then put back as it was: the same runs give
    the same CI, and the caller's random stream is left alone. One run has no CI worth the name
    (the bootstrap returns the point twice); callers write none for n = 1."""
    from rliable import library as rly
    from rliable import metrics

    scores = {"x": np.asarray(finals).reshape(-1, 1)}  # (runs, tasks=1)
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():  # arch deprecates random_state, which rliable passes on
            warnings.simplefilter("ignore", FutureWarning)
            point, ci = rly.get_interval_estimates(
                scores,
                lambda s: np.array([metrics.aggregate_iqm(s)]),
                reps=reps,
                random_state=np.random.RandomState(seed),
            )
    finally:
        np.random.set_state(state)
    return float(point["x"][0]), float(ci["x"][0, 0]), float(ci["x"][1, 0])


def bootstrap_mean_ci(values: np.ndarray, reps: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """95% percentile-bootstrap CI of the mean over axis 0 (the seeds)."""
    rng = np.random.default_rng(seed)
    n = values.shape[0]
    idx = rng.integers(0, n, size=(reps, n))
    means = values[idx].mean(axis=1)
    return np.percentile(means, 2.5, axis=0), np.percentile(means, 97.5, axis=0)


def rank_sum_test(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """One-sided Wilcoxon rank-sum test of a > b: the statistic and p of the normal approximation
    (``ranksums``, the paper's test) and the exact Mann-Whitney p. With a few seeds the exact
    distribution is coarser (3 vs 3 cannot go below p = 1/20), so both are reported."""
    from scipy.stats import mannwhitneyu, ranksums

    stat, p = ranksums(a, b, alternative="greater")
    exact = mannwhitneyu(a, b, alternative="greater", method="exact").pvalue
    return {"statistic": stat, "p_one_sided": p, "p_exact": exact}


def common_grid(steps: Sequence[np.ndarray], points: int = 100) -> np.ndarray:
    """``points`` evenly spaced steps over the range every curve covers (the one step where they
    only meet at one)."""
    end = min(s[-1] for s in steps)
    start = max(s[0] for s in steps)
    return np.linspace(start, end, points) if end > start else np.array([end])


def on_grid(grid: np.ndarray, curves: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """(steps, values) curves linearly interpolated onto ``grid``: (curves, len(grid))."""
    return np.stack([np.interp(grid, steps, values) for steps, values in curves])
