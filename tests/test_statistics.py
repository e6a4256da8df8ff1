"""The statistics behind the tables: the same runs give the same CI whatever numpy's global RNG
holds (and that RNG is left as it was), a group of one run has no CI in plot's summary, the exact
rank-sum p counts every split of the runs (ties included), and Holm's adjustment."""

from __future__ import annotations

import csv
import itertools
import json

import numpy as np
import pytest

from helmrl.analysis.curves import plot_runs
from helmrl.analysis.statistics import (
    common_grid,
    describe,
    holm,
    iqm,
    iqm_with_ci,
    on_grid,
    rank_sum_exact,
    rank_sum_one_sided,
    rank_sum_test,
    summarize,
)
from helmrl.cli import main

FINALS = np.array([0.1, 0.5, 0.7, 0.9, 0.3])


def test_iqm_ci_is_the_same_on_the_same_runs_whatever_the_global_rng_holds():
    cis = []
    for seed in (1, 2, 3):
        np.random.seed(seed)  # rliable resamples from this generator, ignoring its random_state
        cis.append(iqm_with_ci(FINALS, reps=200))
    assert cis[0] == cis[1] == cis[2]
    point, lo, hi = cis[0]
    assert point == pytest.approx(iqm(FINALS)) and lo <= point <= hi and lo < hi
    assert iqm_with_ci(FINALS, reps=200, seed=1) != cis[0]  # the seed is the bootstrap's


def test_iqm_ci_leaves_the_global_rng_as_it_was():
    np.random.seed(7)
    expected = np.random.random(3)
    np.random.seed(7)
    iqm_with_ci(FINALS, reps=50)
    assert np.array_equal(np.random.random(3), expected)


def _brute_force_p(a, b):
    """The exact one-sided p by listing every split of the pooled runs (midranks for ties)."""
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([a, b]))
    observed = ranks[: len(a)].sum()
    sums = [ranks[list(idx)].sum() for idx in itertools.combinations(range(len(ranks)), len(a))]
    return sum(s >= observed - 1e-9 for s in sums) / len(sums)


def test_exact_rank_sum_p_on_cases_worked_by_hand():
    high, low = [0.9, 0.85, 0.95, 0.8, 0.92], [0.1, 0.0, 0.2, 0.05, 0.15]
    assert rank_sum_exact(high, low) == pytest.approx((25.0, 1 / 252))  # 5 vs 5 apart: 1 of C(10, 5)
    assert rank_sum_exact(high, low[:2]) == pytest.approx((10.0, 1 / 21))  # 5 vs 2 apart: 1 of C(7, 2)
    assert rank_sum_exact([0.9, 0.8, 0.7], [0.1, 0.2, 0.3])[1] == pytest.approx(1 / 20)  # 1 of C(6, 3)
    assert rank_sum_exact(low, high) == pytest.approx((0.0, 1.0))
    # one overlap in 5 vs 5: the observed split and 3 others reach its rank sum, 4 / 252
    assert rank_sum_exact([0.9, 0.85, 0.95, 0.8, 0.12], low)[1] == pytest.approx(4 / 252)


def test_exact_rank_sum_p_counts_ties_exactly():
    # [2, 1] vs [1, 0]: midranks 4, 2.5 | 2.5, 1, rank sum 6.5 (U = 3.5); of the C(4, 2) = 6 splits,
    # {4, 2.5} twice reach 6.5, so p = 2/6
    assert rank_sum_exact([2.0, 1.0], [1.0, 0.0]) == pytest.approx((3.5, 1 / 3))
    # [1, 1, 0] vs [0, 0]: midranks 4.5, 4.5, 2 | 2, 2, rank sum 11 (U = 5); of the C(5, 3) = 10
    # splits the 3 that hold both 4.5s reach 11, so p = 3/10 (the no-ties distribution of U, which
    # scipy's mannwhitneyu(method="exact") uses, gives 2/10)
    assert rank_sum_exact([1.0, 1.0, 0.0], [0.0, 0.0]) == pytest.approx((5.0, 0.3))
    assert rank_sum_exact([1.0, 1.0], [1.0, 1.0])[1] == pytest.approx(1.0)  # all tied: every split ties
    a, b = [0.0, 0.0, 0.5, 0.9, 0.9, 0.95], [0.0, 0.0, 0.0, 0.1, 0.9]
    assert rank_sum_exact(a, b)[1] == pytest.approx(_brute_force_p(a, b))
    rng = np.random.default_rng(0)
    for _ in range(20):  # returns rounded to a coarse grid, so most draws hold ties
        a, b = rng.integers(0, 4, rng.integers(1, 7)) / 4, rng.integers(0, 4, rng.integers(1, 7)) / 4
        assert rank_sum_exact(a, b)[1] == pytest.approx(_brute_force_p(a, b))


def test_one_sided_rank_sum_reports_the_exact_p_beside_the_normal_approximation():
    res = rank_sum_one_sided([0.9, 0.85, 0.95, 0.8, 0.92], [0.1, 0.0])
    assert res["u"] == 10.0 and res["p_exact"] == pytest.approx(1 / 21)
    assert res["p_normal"] == pytest.approx(0.0264, abs=1e-4)  # ranksums, the paper's approximation
    summary = rank_sum_test([0.9, 0.85, 0.95, 0.8, 0.92], [0.1, 0.0])  # the sweep summary's: the same test
    assert summary["p_exact"] == res["p_exact"] and summary["p_one_sided"] == res["p_normal"]


def test_holm_adjusts_a_family_in_its_given_order():
    # sorted 0.01, 0.03, 0.04, 0.2 times 4, 3, 2, 1 = 0.04, 0.09, 0.08, 0.2; kept monotone: 0.09 for 0.04
    assert holm([0.01, 0.04, 0.03, 0.2]).tolist() == pytest.approx([0.04, 0.09, 0.09, 0.2])
    # the four tests of the KeyCorridor claim: 4/252 three times and 1/252
    claim = holm([4 / 252, 4 / 252, 1 / 252, 4 / 252])
    assert claim.tolist() == pytest.approx([12 / 252, 12 / 252, 4 / 252, 12 / 252])
    assert holm([0.3, 0.6]).tolist() == pytest.approx([0.6, 0.6]) and holm([0.7, 0.9]).max() == 1.0
    assert holm([0.02]).tolist() == [0.02] and len(holm([])) == 0


def test_rank_sum_and_grid_helpers():
    res = rank_sum_test([0.9, 0.8, 0.7], [0.1, 0.2, 0.3])
    assert res["p_exact"] == pytest.approx(1 / 20) and res["p_one_sided"] < 0.05 and res["statistic"] > 0
    grid = common_grid([np.array([0, 10, 20]), np.array([5, 15, 30])], points=3)
    assert grid.tolist() == [5.0, 12.5, 20.0]  # the range both curves cover
    ys = on_grid(grid, [(np.array([0, 20]), np.array([0.0, 1.0])), (np.array([5, 30]), np.array([1.0, 1.0]))])
    assert ys.shape == (2, 3) and ys[0].tolist() == pytest.approx([0.25, 0.625, 1.0])
    assert common_grid([np.array([0, 10]), np.array([10, 20])]).tolist() == [10.0]


def test_summarize_names_what_n_runs_support():
    assert summarize([0.4]) == {"statistic": "one run", "center": 0.4, "low": None, "high": None}
    three = summarize([0.1, 0.5, 0.9])
    assert three["statistic"] == "mean, min-max" and (three["low"], three["high"]) == (0.1, 0.9)
    assert describe(three) == "mean 0.500 (min 0.100, max 0.900)"
    five = summarize([0.0, 0.2, 0.4, 0.6, 10.0])
    assert five["statistic"] == "IQM, 95% CI" and five["center"] == pytest.approx(
        iqm([0.0, 0.2, 0.4, 0.6, 10.0])
    )
    assert five["low"] <= five["center"] <= five["high"] and describe(five).startswith("IQM ")
    with pytest.raises(ValueError):
        summarize([])


def _run(path, agent, seed, finals):
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"env_id": "E-v0", "agent": agent, "seed": seed}))
    with open(path / "metrics.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["update", "step", "episode_return_mean"])
        for i, r in enumerate(finals):
            w.writerow([i + 1, 100 * (i + 1), r])
    return path


def test_plot_summary_has_no_ci_for_a_single_run(tmp_path, capsys):
    runs = [
        _run(tmp_path / "h0", "helm", 0, [0.1, 0.6]),
        _run(tmp_path / "h1", "helm", 1, [0.2, 0.8]),
        _run(tmp_path / "c0", "cnn", 0, [0.0, 0.3]),
    ]
    res = plot_runs(runs, tmp_path / "curves.png")
    with open(res["summary_csv"]) as fh:
        summary = {r["agent"]: r for r in csv.DictReader(fh)}
    one, two = summary["cnn"], summary["helm"]
    assert one["runs"] == "1" and one["statistic"] == "one run" and float(one["center"]) == pytest.approx(0.3)
    assert one["low"] == one["high"] == ""  # no CI from one run
    assert two["statistic"] == "mean, min-max" and float(two["center"]) == pytest.approx(0.7)
    assert (float(two["low"]), float(two["high"])) == pytest.approx((0.6, 0.8))

    out = tmp_path / "again.png"
    assert main(["plot", *map(str, runs), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "cnn@E-v0: 0.300 (one run, no CI) (n=1)" in printed
    assert "helm@E-v0: mean 0.700 (min 0.600, max 0.800) (n=2)" in printed
    with open(out.with_name("again_summary.csv")) as fh:
        again = {r["agent"]: r for r in csv.DictReader(fh)}
    assert again == summary  # the same runs, the same table: CIs included
