"""experiments/grid_report.py, what the reproduction reports share: when a cell is finished, the return
"at S steps" (the last update <= S, within one update of S), the evaluations from cell.json, the
planned seeds from a spec, the small-n labels, Holm's adjustment per family and the verdict words."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from helmrl.config import TrainConfig

from .conftest import load_script

rc = load_script("experiments/grid_report.py")

ENV = "RandomMaze-v0"
M1, M2 = 1_000_000, 2_000_000


def make_cell(
    root: Path, steps: list[int], returns: list[float | str], total: int, n_envs=16, rollout=128, info=None
) -> rc.Cell:
    run = root / "g" / f"{ENV}-helm-s0"
    run.mkdir(parents=True)
    TrainConfig(env_id=ENV, total_steps=total, n_envs=n_envs, rollout_steps=rollout).save(run / "config.json")
    with open(run / "metrics.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["update", "step", "episode_return_mean", "time_s"])
        w.writerows([i + 1, s, r, i] for i, (s, r) in enumerate(zip(steps, returns, strict=True)))
    if info is not None:
        (run / "cell.json").write_text(json.dumps(info))
    (cell,) = rc.load_cells(root, "g", ENV)
    return cell


def test_the_return_at_a_step_is_the_last_update_within_one_update_of_it(tmp_path) -> None:
    update = 16 * 128
    steps = [k * update for k in (1, 244, 488, 976, 977)]  # ..., 1998848, 2000896
    c = make_cell(tmp_path, steps, ["", 0.2, 0.4, 0.8, 0.81], total=2_000_000)
    assert c.finished and c.steps_per_update == update
    assert c.return_at(2_000_000) == pytest.approx(0.8)  # 1152 steps short of 2M, under one update
    assert c.return_at(500_000) == pytest.approx(0.2)  # 499712
    assert c.return_at(update) is None  # no episode had ended yet
    assert c.return_at(750_000) is None  # the last logged update <= 750k is 499712: not logged there


def test_a_run_short_of_its_total_is_not_finished_and_has_no_later_return(tmp_path) -> None:
    c = make_cell(tmp_path, [512, 1024, 1536], [0.1, 0.2, 0.3], total=300_000, n_envs=16, rollout=32)
    assert not c.finished and c.return_at(1536) == 0.3 and c.return_at(300_000) is None
    assert c.return_at(2047) == 0.3 and c.return_at(2048) is None  # a whole update past the last


def test_evaluations_come_from_cell_json(tmp_path) -> None:
    info = {"eval": {"episodes": 100, "sampled_mean": 0.5, "greedy_error": "RuntimeError: x"}}
    c = make_cell(tmp_path, [100, 200], [0.1, 0.2], total=200, n_envs=1, rollout=100, info=info)
    assert c.eval_mean("eval_sampled") == 0.5 and c.eval_mean("eval_greedy") is None
    assert c.value(200) == 0.2 and c.value(200, "eval_sampled") == 0.5
    vals, seeds = rc.values_of([c], "g", "helm", 200, "eval_sampled")
    assert vals.tolist() == [0.5] and seeds == [0]
    assert rc.values_of([c], "g", "lstm", 200)[0].size == 0


def test_commits_from_cell_json_else_attempts_log(tmp_path) -> None:
    c = make_cell(tmp_path, [100], [0.1], total=100, n_envs=1, rollout=100, info={"device": "CPU X"})
    (c.run / "attempts.log").write_text(
        "t pid=1 start update=0 commit=abc host=h\nt commit=abc\nt commit=def\n"
    )
    assert rc.ran_on(c.run) == ("abc, def", "CPU X")
    (c.run / "cell.json").write_text(json.dumps({"commits": ["123"]}))
    assert rc.ran_on(c.run) == ("123", rc.NOT_RECORDED)


def test_planned_seeds_from_a_sweep_spec_a_peer_spec_or_the_default(tmp_path) -> None:
    (tmp_path / "screen.toml").write_text(
        'name = "screen"\nenvs = ["RandomMaze-v0"]\nagents = ["helm"]\nseeds = [0, 1]\n'
        'total_steps = 500000\n[variants]\nhelm-beta1000 = { agent = "helm", beta = 1000.0 }\n'
    )
    assert rc.expected_seeds(tmp_path, "screen", "helm", 5) == 2
    assert rc.expected_seeds(tmp_path, "screen", "helm:helm-beta1000", 5) == 2
    assert rc.expected_seeds(tmp_path, "screen", "cnn", 5) == 5
    (tmp_path / "peers.toml").write_text(
        'name = "peers"\nrunner = "sb3_peer"\npreset = "randommaze"\nagents = ["sb3-ppo", "sb3-lstm"]\n'
        'seeds = [0, 1, 2]\ntotal_steps = 2000000\nencoder = "authors"\n'
    )
    assert rc.expected_seeds(tmp_path, "peers", "sb3-lstm", 5) == 3
    assert rc.expected_seeds(tmp_path, "absent", "helm", 4) == 4


def test_small_n_labels_and_the_table_fields() -> None:
    one = rc.iqm_fields(np.array([0.5]), [3], reps=50)
    assert (one["statistic"], one["ci"], one["ci_low"], one["seeds"]) == ("one run", rc.NO_CI, "", "3")
    three = rc.iqm_fields(np.array([0.1, 0.2, 0.6]), [0, 1, 2], reps=50)
    assert three["statistic"] == "mean, min-max" and three["iqm"] == 0.3
    assert three["ci"] == "n=3, no CI; min 0.100, max 0.600"
    five = rc.iqm_fields(np.array([0.1, 0.5, 0.7, 0.9, 0.3]), range(5), reps=50)
    assert five["statistic"] == "IQM, 95% CI" and five["ci_low"] <= five["iqm"] <= five["ci_high"]
    assert rc.spread(np.array([0.112, 0.621])) == "mean 0.366 (min 0.112, max 0.621), n = 2"
    assert [rc.step_label(s) for s in (300_000, 500_000, 1_000_000, 2_000_000)] == [
        "300k",
        "500k",
        "1M",
        "2M",
    ]
    assert rc.markdown_table(["a", "b"], [["1", "2"]]) == "| a | b |\n|---|---|\n| 1 | 2 |\n"


def _row(family: str, step: int, a, b, measure: str = "training") -> dict:
    return dict(family=family, step=step, measure=measure, **rc.comparison_fields(np.array(a), np.array(b)))


def test_holm_runs_within_a_family_at_one_step_over_the_tests_with_a_p() -> None:
    hi, lo = [0.9, 0.85, 0.95, 0.8, 0.92], [0.1, 0.0, 0.2, 0.05, 0.15]
    rows = [
        _row("claim", 2, hi, lo),
        _row("claim", 2, hi, lo),
        _row("claim", 2, hi, lo[:1]),  # no test: one run on a side
        _row("claim", 1, hi, lo),
        _row("claim", 2, hi, lo, "eval_greedy"),
    ]
    rc.adjust_holm(rows, by=("family", "step", "measure"))
    assert rows[0]["p_exact"] == pytest.approx(1 / 252, abs=1e-4)
    assert rows[0]["family_size"] == rows[1]["family_size"] == 2
    assert rows[0]["p_holm"] == pytest.approx(2 / 252, abs=1e-4) and rows[0]["significant_holm"] is True
    assert rows[2]["p_exact"] == rows[2]["p_holm"] == "" and rows[2]["family_size"] == ""
    assert rows[3]["family_size"] == rows[4]["family_size"] == 1 and rows[3]["p_holm"] == rows[3]["p_exact"]
    assert rc.with_both_sides(rows) == rows  # every row has a run on each side


def _judge(rows: dict, expected=(5, 5), screen=False) -> rc.Verdict:
    return rc.judge("A > B", rows, 2_000_000, expected, ("A", "B"), "at 2M A x; B y", screen=screen)


def _tested(p: float, p_holm: float, n=(5, 5)) -> dict:
    return dict(
        family="f", family_size=2, n_a=n[0], n_b=n[1], p_exact=p, p_holm=p_holm, p_normal=p,
        significant=p < rc.ALPHA, significant_holm=p_holm < rc.ALPHA,
    )  # fmt: skip


def test_the_verdict_words() -> None:
    ok, weak, none = _tested(0.004, 0.008), _tested(0.03, 0.06), _tested(0.4, 0.8)
    assert _judge({M1: none, M2: ok}).line.startswith("A > B: confirmed (one-sided Mann-Whitney p = 0.0040")
    assert _judge({M1: none, M2: weak}).status == "unadjusted"
    only = _judge({M1: ok, M2: none})
    assert only.status == "only" and only.line.startswith("A > B: significant only at 1M steps, not at 2M")
    assert _judge({M1: none, M2: none}).line.startswith("A > B: not confirmed (")
    opened = _judge({M2: _tested(0.02, 0.02, (5, 3))})
    assert opened.line.startswith("A > B: open: n = 5 (A) and 3 (B) of 5 seeds finished; at 2M A x; B y;")
    few = _judge({M2: _tested(0.02, 0.02, (5, 3))}, expected=(5, 3))
    assert few.line.startswith("A > B: screen (n = 5 vs 3, under 5 a side): significant, ")
    screen = _judge({M2: ok}, screen=True)
    assert screen.status == "screen" and "confirmed" not in screen.line
    assert screen.line.startswith("A > B: screen (n = 5 vs 5, a screening group): significant, ")
