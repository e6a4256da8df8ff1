"""The statistics behind the tables: the same runs give the same CI whatever numpy's global RNG
holds (and that RNG is left as it was), and a group of one run has no CI in plot's summary."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from helmrl.analysis.curves import plot_runs
from helmrl.analysis.statistics import common_grid, iqm, iqm_with_ci, on_grid, rank_sum_test
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


def test_rank_sum_and_grid_helpers():
    res = rank_sum_test([0.9, 0.8, 0.7], [0.1, 0.2, 0.3])
    assert res["p_exact"] == pytest.approx(1 / 20) and res["p_one_sided"] < 0.05 and res["statistic"] > 0
    grid = common_grid([np.array([0, 10, 20]), np.array([5, 15, 30])], points=3)
    assert grid.tolist() == [5.0, 12.5, 20.0]  # the range both curves cover
    ys = on_grid(grid, [(np.array([0, 20]), np.array([0.0, 1.0])), (np.array([5, 30]), np.array([1.0, 1.0]))])
    assert ys.shape == (2, 3) and ys[0].tolist() == pytest.approx([0.25, 0.625, 1.0])
    assert common_grid([np.array([0, 10]), np.array([10, 20])]).tolist() == [10.0]


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
    assert one["runs"] == "1" and float(one["final_iqm"]) == pytest.approx(0.3)
    assert one["ci_low"] == one["ci_high"] == ""  # no CI from one run
    assert float(two["ci_low"]) <= float(two["final_iqm"]) <= float(two["ci_high"])

    out = tmp_path / "again.png"
    assert main(["plot", *map(str, runs), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "cnn@E-v0: IQM 0.300 no CI (n=1)" in printed and "helm@E-v0: IQM 0.700 [" in printed
    with open(out.with_name("again_summary.csv")) as fh:
        again = {r["agent"]: r for r in csv.DictReader(fh)}
    assert again == summary  # the same runs, the same table: CIs included
