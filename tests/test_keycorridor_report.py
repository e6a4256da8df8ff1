"""experiments/keycorridor_repro.py on tiny fake sweep cells: one row per finished cell, labels and
counts from the cells' configs, no CI for one run, the direction of the one-sided tests."""

from __future__ import annotations

import csv
import functools
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from helmrl.analysis import curves
from helmrl.config import TrainConfig
from helmrl.sweep.summary import COLUMNS

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "benchmarks" / "results" / "paper_curves.csv"
ENV = "MiniGrid-KeyCorridorS3R1-v0"
STEPS = (50_000, 100_000, 150_000, 200_000, 250_000, 300_000)


@pytest.fixture(scope="module")
def report():
    spec = importlib.util.spec_from_file_location(
        "keycorridor_repro", ROOT / "experiments" / "keycorridor_repro.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    module.BOOT_REPS = 200  # the CIs' resamples: enough to test, fast
    with pytest.MonkeyPatch.context() as mp:  # plot_runs' own summary table, which the report drops
        mp.setattr(curves, "iqm_with_ci", functools.partial(curves.iqm_with_ci, reps=20))
        yield module


def cell(
    root: Path,
    group: str,
    agent: str,
    seed: int,
    final: float,
    label: str = "",
    total: int = 300_000,
    upto: int | None = None,
) -> Path:
    """A cell folder as a sweep leaves it: config.json, metrics.csv (returns rising to ``final``)."""
    run = root / group / f"{ENV}-{label or agent}-s{seed}"
    run.mkdir(parents=True)
    TrainConfig(env_id=ENV, agent=agent, seed=seed, total_steps=total, label=label).save(run / "config.json")
    steps = [s for s in STEPS if s <= (upto or total)]
    with open(run / "metrics.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["update", "step", "episode_return_mean", "time_s"])
        for i, s in enumerate(steps):
            w.writerow([i + 1, s, "" if i == 0 else final * s / steps[-1], s / 100])
    (run / "cell.json").write_text('{"wall_s": 3000.0}\n')
    return run


def read(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as fh:
        r = csv.DictReader(fh)
        return list(r.fieldnames or []), list(r)


def build(report, tmp_path: Path) -> dict:
    return report.build_report(tmp_path / "cells", tmp_path / "out", PAPER, tmp_path / "no-sweeps")


def test_one_row_per_finished_cell_and_curves_in_another_file(report, tmp_path) -> None:
    cells = tmp_path / "cells"
    for agent, seed, final in (("helm", 0, 0.9), ("helm", 1, 0.8), ("lstm", 0, 0.4), ("cnn", 0, 0.1)):
        cell(cells, "keycorridor-repro", agent, seed, final)
    cell(cells, "keycorridor-repro", "cnn", 1, 0.3, upto=150_000)  # still running
    cell(cells, "keycorridor-screen", "cnn", 0, 0.9, label="cnn-linear", total=200_000)  # a 200k screen
    out = build(report, tmp_path)
    header, rows = read(out["paths"]["cells"])
    assert header == ["group", *COLUMNS]
    assert sorted((r["group"], r["agent"], r["seed"]) for r in rows) == [
        ("keycorridor-repro", "cnn", "0"), ("keycorridor-repro", "helm", "0"),
        ("keycorridor-repro", "helm", "1"), ("keycorridor-repro", "lstm", "0"),
    ]  # fmt: skip
    curves = tmp_path / "out" / "keycorridor-repro-curves.csv"
    assert curves != out["paths"]["cells"] and curves.exists()
    assert read(curves)[0] == report.CURVE_COLUMNS
    assert out["figures"]["keycorridor-repro"].exists()
    assert not list((tmp_path / "out").glob("*_summary.csv"))


def test_labels_and_runs_come_from_the_configs(report, tmp_path) -> None:
    cells = tmp_path / "cells"
    cell(cells, "keycorridor-screen", "helm", 0, 0.76, label="helm-beta100")
    for seed, final in enumerate((0.9, 0.8, 0.95)):
        cell(cells, "keycorridor-repro", "helm", seed, final)
    rows = {(r["group"], r["agent"], r["step"]): r for r in read(build(report, tmp_path)["paths"]["iqm"])[1]}
    beta100 = rows[("keycorridor-screen", "helm:helm-beta100", "300000")]
    assert beta100["runs"] == "1" and beta100["ci"] == "n=1, no CI" and beta100["ci_low"] == ""
    assert beta100["paper_mean"] == "0.94"
    helm = rows[("keycorridor-repro", "helm", "300000")]
    assert helm["runs"] == "3" and helm["seeds"] == "0 1 2"
    assert float(helm["ci_low"]) <= float(helm["iqm"]) <= float(helm["ci_high"])
    assert ("keycorridor-repro", "helm:helm-beta100", "300000") not in rows


def test_one_run_has_no_ci_anywhere(report, tmp_path) -> None:
    assert report.iqm_ci(np.array([0.5]))[1:] == (None, None)
    assert report.diff_ci(np.array([0.5]), np.array([0.1, 0.2, 0.3]))[1:] == (None, None)
    cells = tmp_path / "cells"
    cell(cells, "keycorridor-screen", "cnn", 0, 0.1, label="cnn-smallgain", total=200_000)
    for seed, final in enumerate((0.2, 0.0, 0.3)):
        cell(cells, "keycorridor", "cnn", seed, final)
    ablation = {r["variant"]: r for r in read(build(report, tmp_path)["paths"]["ablation"])[1]}
    row = ablation["cnn-smallgain"]
    assert row["ci"] == row["diff_ci"] == "n=1, no CI" and row["diff_ci_low"] == row["diff_ci_high"] == ""
    assert ablation[report.GRID_CNN]["runs"] == "3"


def test_one_sided_tests_point_the_right_way(report, tmp_path) -> None:
    high, low = np.array([0.9, 0.85, 0.95, 0.8, 0.92]), np.array([0.1, 0.0, 0.2, 0.05, 0.15])
    assert report.one_sided(high, low)["p_exact"] == pytest.approx(1 / 252)  # 5 vs 5, all above
    assert report.one_sided(low, high)["p_exact"] == pytest.approx(1.0)
    assert report.one_sided(high[:1], low) is None
    cells = tmp_path / "cells"
    for seed in range(5):
        cell(cells, "keycorridor-repro", "helm", seed, high[seed])
        cell(cells, "keycorridor-repro", "lstm", seed, low[seed])
        cell(cells, "keycorridor-repro", "cnn", seed, min(1.0, high[seed] + 0.05))
    verdicts = build(report, tmp_path)["verdicts"]
    assert any(v.startswith("HELM > Impala-PPO, paper's settings: confirmed") for v in verdicts)
    assert any(v.startswith("HELM > CNN-PPO, paper's settings: not confirmed") for v in verdicts)
    assert any(v.startswith("HELM > CNN-PPO, fair settings: open: n = 5 (HELM) and 0") for v in verdicts)


def test_no_cells_rewrites_every_table_and_removes_stale_figures(report, tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keycorridor-repro.csv").write_text("env_id,agent,step,mean\nstale,stale,1,1\n")
    (out / "keycorridor-repro-curves.png").write_bytes(b"stale")
    (tmp_path / "cells").mkdir()
    result = build(report, tmp_path)
    for path in result["paths"].values():
        if path.suffix == ".md":  # the Markdown table: its header and rule only
            assert len(path.read_text().splitlines()) == 2
            continue
        header, rows = read(path)
        assert header and rows == []
    assert read(out / "keycorridor-repro.csv")[0] == ["group", *COLUMNS]
    assert not (out / "keycorridor-repro-curves.png").exists()
    assert result["verdicts"][0].startswith("HELM > Impala-PPO, overall: open: n = 0 (HELM)")


def test_the_cells_table_names_each_finished_cell_with_its_commit_and_device(report, tmp_path) -> None:
    cells = tmp_path / "cells"
    run = cell(cells, "keycorridor-repro", "helm", 0, 0.9)
    (run / "cell.json").write_text(
        '{"wall_s": 1.0, "device": "CPU X (avx2), 1 torch threads", "commits": ["abc1234"]}'
    )
    old = cell(cells, "keycorridor-fair", "cnn", 3, 0.5)
    (old / "cell.json").write_text('{"wall_s": 1.0}')
    (old / "attempts.log").write_text("t pid=1 start update=0 commit=def5678 host=h\n")
    cell(cells, "keycorridor-fair", "lstm", 0, 0.4, upto=150_000)  # unfinished: not in the table
    lines = build(report, tmp_path)["paths"]["cells_md"].read_text().splitlines()
    assert len(lines) == 4 and all(ln.count("|") == lines[0].count("|") for ln in lines)
    helm = next(ln for ln in lines if "| HELM |" in ln)
    assert "abc1234" in helm and "CPU X (avx2)" in helm and "0.27 / 0.87 / 0.94" in helm
    assert "| 0.900 |" in helm  # the 300k return and the final one
    cnn = next(ln for ln in lines if "CNN-PPO" in ln)
    assert "keycorridor-fair" in cnn and "def5678" in cnn and "not recorded" in cnn


def test_the_chases_compare_each_peer_and_split_variant_with_the_baseline_beside_it(report, tmp_path) -> None:
    cells = tmp_path / "cells"
    for seed in range(5):
        cell(cells, "keycorridor-repro", "helm", seed, 0.95)
        cell(cells, "keycorridor-repro", "lstm", seed, 0.1 + 0.01 * seed)
        cell(cells, "keycorridor-fair", "cnn", seed, 0.2 + 0.01 * seed)
        cell(cells, "keycorridor-peers", "sb3-ppo", seed, 0.9 - 0.01 * seed)
        cell(cells, "keycorridor-peers", "sb3-lstm", seed, 0.05 + 0.01 * seed)  # below Impala-PPO
        cell(cells, "keycorridor-peers", "sb3-ppo", seed, 0.3 + 0.01 * seed, label="no-bootstrap")
        cell(cells, "keycorridor-lstm-segments", "lstm", seed, 0.8 + 0.01 * seed)
        cell(cells, "keycorridor-bootstrap", "cnn", seed, 0.85 + 0.01 * seed)
    for seed in range(3):
        cell(cells, "keycorridor-sb3-split", "cnn", seed, 0.9, label="cnn-sb3")
        cell(cells, "keycorridor-sb3-split", "cnn", seed, 0.9)  # the fair group's own cells: ignored
    result = build(report, tmp_path)
    by_title = {t["comparison"]: t for t in result["tests"] if t["step"] == 300_000}
    peer = by_title["sb3-ppo (outside peer) > CNN-PPO at HELM's settings"]
    assert (peer["group_b"], peer["agent_b"], peer["n_a"], peer["n_b"]) == ("keycorridor-fair", "cnn", 5, 5)
    assert peer["significant"] is True
    lstm = by_title["sb3-lstm (outside peer) > Impala-PPO at its authors' settings"]
    assert lstm["group_b"] == "keycorridor-repro" and lstm["significant"] is False
    segments = by_title["Impala-PPO with episode-segment minibatches > Impala-PPO at its authors' settings"]
    assert (segments["group_b"], segments["agent_b"], segments["significant"]) == (
        "keycorridor-repro",
        "lstm",
        True,
    )
    variant = by_title["sb3-ppo (outside peer) > sb3-ppo (no-bootstrap) (outside peer)"]
    assert (variant["agent_a"], variant["agent_b"], variant["significant"]) == (
        "sb3-ppo",
        "sb3-ppo:no-bootstrap",
        True,
    )
    assert "sb3-ppo (no-bootstrap) (outside peer) > CNN-PPO at HELM's settings" in by_title
    boot = by_title["CNN-PPO with the truncation bootstrap > CNN-PPO at HELM's settings"]
    assert (boot["group_b"], boot["agent_b"], boot["significant"]) == ("keycorridor-fair", "cnn", True)
    split = by_title["CNN-PPO (cnn-sb3) (screening) > CNN-PPO at HELM's settings"]
    assert (split["n_a"], split["n_b"]) == (3, 5)
    assert not any("keycorridor-sb3-split" == t["group_a"] and t["agent_a"] == "cnn" for t in result["tests"])
    lines = result["verdicts"]
    split_line = "CNN-PPO (cnn-sb3) (screening) > CNN-PPO at HELM's settings: open: n = 3"  # 3 of 5 seeds
    assert any(v.startswith(split_line) for v in lines)
    assert any(v.startswith("sb3-ppo (outside peer) > CNN-PPO at HELM's settings: confirmed") for v in lines)
