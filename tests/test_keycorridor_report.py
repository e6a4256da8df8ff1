"""experiments/keycorridor_repro.py on tiny fake sweep cells: one row per finished cell, labels and
counts from the cells' configs, no CI for one run and the plain mean and range for 2 or 3, the
direction of the one-sided tests, Holm's adjustment within a family, and no "confirmed" on fewer
than five runs a side."""

from __future__ import annotations

import csv
import functools
from pathlib import Path

import numpy as np
import pytest

from helmrl.analysis import curves
from helmrl.config import TrainConfig
from helmrl.sweep.summary import COLUMNS

from .conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "benchmarks" / "results" / "paper_curves.csv"
ENV = "MiniGrid-KeyCorridorS3R1-v0"
STEPS = (50_000, 100_000, 150_000, 200_000, 250_000, 300_000)


@pytest.fixture(scope="module")
def report():
    module = load_script("experiments/keycorridor_repro.py")
    module.BOOT_REPS = 200  # the CIs' resamples: enough to test, fast
    with pytest.MonkeyPatch.context() as mp:  # plot_runs' own summary table, which the report drops
        mp.setattr(curves, "summarize", functools.partial(curves.summarize, reps=20))
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
    for seed, final in enumerate((0.5, 0.6, 0.7, 0.9)):
        cell(cells, "keycorridor-fair", "cnn", seed, final)
    rows = {(r["group"], r["agent"], r["step"]): r for r in read(build(report, tmp_path)["paths"]["iqm"])[1]}
    beta100 = rows[("keycorridor-screen", "helm:helm-beta100", "300000")]
    assert beta100["runs"] == "1" and beta100["ci"] == "n=1, no CI" and beta100["ci_low"] == ""
    assert beta100["paper_mean"] == "0.94" and beta100["measure"] == "one run"
    helm = rows[("keycorridor-repro", "helm", "300000")]  # 3 runs: the plain mean and the range, no CI
    assert helm["runs"] == "3" and helm["seeds"] == "0 1 2" and helm["measure"] == "mean, min-max"
    assert float(helm["iqm"]) == pytest.approx((0.9 + 0.8 + 0.95) / 3, abs=1e-3)
    assert helm["ci_low"] == helm["ci_high"] == "" and helm["ci"] == "n=3, no CI; min 0.800, max 0.950"
    cnn = rows[("keycorridor-fair", "cnn", "300000")]  # 4 runs: the IQM and its bootstrap CI
    assert cnn["measure"] == "IQM, 95% CI" and float(cnn["iqm"]) == pytest.approx(0.65)
    assert float(cnn["ci_low"]) <= float(cnn["iqm"]) <= float(cnn["ci_high"])
    assert ("keycorridor-repro", "helm:helm-beta100", "300000") not in rows


def test_few_runs_are_labelled_mean_and_range_not_iqm_and_ci(report) -> None:
    assert report.spread(np.array([0.171])) == "0.171 (n = 1, no CI)"
    assert report.spread(np.array([0.112, 0.621])) == "mean 0.366 (min 0.112, max 0.621), n = 2"
    assert report.spread(np.array([0.663, 0.499, 0.407])) == "mean 0.523 (min 0.407, max 0.663), n = 3"
    assert report.spread(np.array([0.1, 0.5, 0.7, 0.9, 0.3])).startswith("IQM 0.500 [")
    # why: with 2 or 3 runs the IQM trims nothing and the bootstrap's 2.5% / 97.5% points are the
    # lowest and highest run (each is every draw with a chance of 1/n**n >= 1/27 > 2.5%)
    values = np.array([0.663, 0.499, 0.407])
    assert report._iqm_ci(tuple(values.tolist()), report.BOOT_REPS) == pytest.approx(
        (values.mean(), 0.407, 0.663)
    )


def test_one_run_has_no_ci_anywhere(report, tmp_path) -> None:
    assert report.iqm_ci(np.array([0.5]))[1:] == (None, None)
    assert report.bootstrap_diff_ci(np.array([0.5]), np.array([0.1, 0.2, 0.3]))[1:] == (None, None)
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
    result = build(report, tmp_path)
    verdicts = result["verdicts"]
    assert any(v.startswith("HELM > Impala-PPO, paper's settings: confirmed") for v in verdicts)
    assert any(v.startswith("HELM > CNN-PPO, paper's settings: not confirmed") for v in verdicts)
    assert any(v.startswith("HELM > CNN-PPO, fair settings: open: n = 5 (HELM) and 0") for v in verdicts)
    # the claim's family at 300k: the two tests at the paper's settings (the fair cells are missing)
    claim = {
        t["comparison"]: t for t in result["tests"] if t["step"] == 300_000 and t["family"] == report.CLAIM
    }
    assert sorted(claim) == ["HELM > CNN-PPO, paper's settings", "HELM > Impala-PPO, paper's settings"]
    impala = claim["HELM > Impala-PPO, paper's settings"]
    assert impala["family_size"] == 2 and impala["p_holm"] == pytest.approx(2 / 252, abs=1e-4)
    assert impala["significant_holm"] is True
    assert "Holm-adjusted 0.0079 over the 2 tests of family" in next(
        v for v in verdicts if "Impala-PPO, pap" in v
    )


def test_a_family_can_undo_an_unadjusted_significance(report, tmp_path) -> None:
    cells = tmp_path / "cells"
    peer = (0.1, 0.11, 0.12, 0.13, 0.925)  # one run between HELM's 0.92 and 0.93: p = 7/252 each
    for seed in range(5):
        cell(cells, "keycorridor-repro", "helm", seed, 0.9 + 0.01 * seed)
        cell(cells, "keycorridor-peers", "sb3-ppo", seed, peer[seed])
        cell(cells, "keycorridor-peers", "sb3-lstm", seed, peer[seed])
        cell(cells, "keycorridor-peers", "sb3-ppo", seed, peer[seed], label="no-bootstrap")
    result = build(report, tmp_path)
    peers = [t for t in result["tests"] if t["step"] == 300_000 and t["family"] == "HELM > the outside peers"]
    assert len(peers) == 3 and all(t["p_exact"] == pytest.approx(7 / 252, abs=1e-4) for t in peers)
    assert all(t["significant"] is True and t["significant_holm"] is False for t in peers)
    assert all(t["family_size"] == 3 and t["p_holm"] == pytest.approx(21 / 252, abs=1e-4) for t in peers)
    line = next(v for v in result["verdicts"] if v.startswith("HELM > sb3-ppo (keycorridor-peers)"))
    assert line.startswith("HELM > sb3-ppo (keycorridor-peers): significant before Holm's adjustment only (")
    assert (
        'p = 0.0278 exact (Holm-adjusted 0.0833 over the 3 tests of family "HELM > the outside peers")'
        in line
    )
    families = "\n".join(result["families"])
    assert '"HELM > the outside peers"' in families and "3 of 3 with a test at 300k" in families


def test_fewer_than_five_runs_a_side_is_a_screen_never_confirmed(report, tmp_path) -> None:
    cells = tmp_path / "cells"
    for seed in range(5):
        cell(cells, "keycorridor-repro", "helm", seed, 0.9 + 0.01 * seed)
    for seed in (1, 2):  # keycorridor-beta100 plans two seeds: all finished, n = 5 vs 2
        cell(cells, "keycorridor-beta100", "helm", seed, 0.1 * seed)
    lines = build(report, tmp_path)["verdicts"]
    beta = next(v for v in lines if v.startswith("HELM β = 1000 > HELM β = 100"))
    assert beta.startswith("HELM β = 1000 > HELM β = 100: screen (n = 5 vs 2, under 5 a side): significant, ")
    assert "p = 0.0476 exact" in beta and "confirmed" not in beta  # 1/21, the least 5 vs 2 can give
    assert "HELM at β = 100 mean 0.150 (min 0.100, max 0.200), n = 2" in beta and "IQM 0.150" not in beta


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
