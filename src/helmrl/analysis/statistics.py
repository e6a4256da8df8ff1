"""The statistics of every table and plot: the interquartile mean with its 95% stratified-bootstrap
CI (rliable, the paper's protocol), a bootstrap band of the mean across seeds, the one-sided
rank-sum test of HELM against a baseline (the exact permutation p, ties included, beside the
paper's normal approximation), Holm's adjustment of a family of p-values, and curves
interpolated onto a common grid of steps.

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


SMALL_N = 3
"""Up to this many runs, the IQM trims nothing (it is the plain mean) and a 95% bootstrap CI's
2.5% and 97.5% points are the lowest and highest run: such a group is summarised as its mean
and min–max, under that name, never as "IQM [CI]"."""


def summarize(values: Sequence[float], reps: int = 2000) -> dict[str, Any]:
    """The figure that n runs support, with its name: ``statistic`` is "IQM, 95% CI" from
    SMALL_N + 1 runs (rliable's stratified bootstrap, :func:`iqm_with_ci`), "mean, min-max" for 2
    to SMALL_N runs, "one run" for one (``low``/``high`` None)."""
    v = np.asarray(values, dtype=float).reshape(-1)
    if len(v) == 0:
        raise ValueError("summarize needs at least one run")
    if len(v) == 1:
        return {"statistic": "one run", "center": float(v[0]), "low": None, "high": None}
    if len(v) <= SMALL_N:
        return {
            "statistic": "mean, min-max",
            "center": float(v.mean()),
            "low": float(v.min()),
            "high": float(v.max()),
        }
    point, lo, hi = iqm_with_ci(v, reps=reps)
    return {"statistic": "IQM, 95% CI", "center": point, "low": lo, "high": hi}


def describe(summary: dict[str, Any]) -> str:
    """One :func:`summarize` result as text: 'IQM 0.948 [0.913, 0.950]', 'mean 0.366 (min 0.112,
    max 0.621)', '0.171 (one run, no CI)'."""
    c, lo, hi = summary["center"], summary["low"], summary["high"]
    if summary["statistic"] == "one run":
        return f"{c:.3f} (one run, no CI)"
    if summary["statistic"] == "mean, min-max":
        return f"mean {c:.3f} (min {lo:.3f}, max {hi:.3f})"
    return f"IQM {c:.3f} [{lo:.3f}, {hi:.3f}]"


def bootstrap_diff_ci(
    a: np.ndarray, b: np.ndarray, reps: int = 5000
) -> tuple[float, float | None, float | None]:
    """Difference of means a - b with a 95% bootstrap CI, seeds resampled within each side; no CI
    unless both sides have 2 runs or more (one run has nothing to resample)."""
    d = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return d, None, None
    rng = np.random.default_rng(0)
    da = a[rng.integers(0, len(a), (reps, len(a)))].mean(1)
    db = b[rng.integers(0, len(b), (reps, len(b)))].mean(1)
    return d, float(np.percentile(da - db, 2.5)), float(np.percentile(da - db, 97.5))


def bootstrap_mean_ci(values: np.ndarray, reps: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """95% percentile-bootstrap CI of the mean over axis 0 (the seeds)."""
    rng = np.random.default_rng(seed)
    n = values.shape[0]
    idx = rng.integers(0, n, size=(reps, n))
    means = values[idx].mean(axis=1)
    return np.percentile(means, 2.5, axis=0), np.percentile(means, 97.5, axis=0)


def rank_sum_exact(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Mann-Whitney U of ``a`` and the exact one-sided permutation p of a > b, ties included.

    Under the null every split of the pooled runs into groups of len(a) and len(b) is equally
    likely; p is the share of those C(n_a + n_b, n_a) splits whose rank sum for the first group
    (midranks for ties, as U uses) is at least the observed one. The splits are counted, not
    sampled: a count over subsets by rank sum, on the doubled midranks, which are whole numbers
    (in float64, exact while the counts stay below 2**53: up to 28 runs a side). With ties this
    is the exact conditional test; scipy's ``mannwhitneyu(method="exact")`` uses the no-ties
    distribution of U instead."""
    from scipy.stats import rankdata

    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    na, nb = len(a), len(b)
    if na == 0 or nb == 0:
        raise ValueError("rank_sum_exact needs at least one run on each side")
    doubled = np.rint(2 * rankdata(np.concatenate([a, b]))).astype(int)  # midranks are k or k + 1/2
    observed = int(doubled[:na].sum())
    top = int(doubled.sum())
    counts = np.zeros((na + 1, top + 1))  # counts[k, s]: subsets of k runs with doubled rank sum s
    counts[0, 0] = 1.0
    for r in doubled:
        counts[1:, r:] = counts[1:, r:] + counts[:-1, : top + 1 - r]
    p = float(counts[na, observed:].sum() / counts[na].sum())
    u = observed / 2 - na * (na + 1) / 2
    return float(u), min(p, 1.0)


def rank_sum_one_sided(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """One-sided rank-sum test of a > b: Mann-Whitney U, the exact permutation p
    (:func:`rank_sum_exact`, ties included) and the p of the normal approximation the paper used
    (Wilcoxon rank-sum, scipy's ``ranksums``, no tie correction). With a few seeds the exact
    distribution is coarse (3 vs 3 cannot go below p = 1/20, 5 vs 2 below 1/21, 5 vs 5 below
    1/252), so both are reported."""
    from scipy.stats import ranksums

    u, p_exact = rank_sum_exact(a, b)
    normal = ranksums(a, b, alternative="greater")
    return {
        "u": u,
        "p_exact": p_exact,
        "p_normal": float(normal.pvalue),
        "statistic": float(normal.statistic),
    }


def rank_sum_test(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """One-sided Wilcoxon rank-sum test of a > b as the sweep summary tabulates it: the statistic
    and p of the normal approximation (the paper's test) and the exact p of
    :func:`rank_sum_one_sided`, the same test the KeyCorridor report uses."""
    t = rank_sum_one_sided(a, b)
    return {"statistic": t["statistic"], "p_one_sided": t["p_normal"], "p_exact": t["p_exact"]}


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment of one family of p-values, in the order given: the i-th smallest
    p is multiplied by (m - i + 1), a running maximum keeps the order, and 1 caps it. Rejecting
    where the adjusted p < alpha keeps the chance of any false rejection in the family <= alpha."""
    p = np.asarray(pvalues, dtype=float).ravel()
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = stepped
    return out


def common_grid(steps: Sequence[np.ndarray], points: int = 100) -> np.ndarray:
    """``points`` evenly spaced steps over the range every curve covers (the one step where they
    only meet at one)."""
    end = min(s[-1] for s in steps)
    start = max(s[0] for s in steps)
    return np.linspace(start, end, points) if end > start else np.array([end])


def on_grid(grid: np.ndarray, curves: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """(steps, values) curves linearly interpolated onto ``grid``: (curves, len(grid))."""
    return np.stack([np.interp(grid, steps, values) for steps, values in curves])
