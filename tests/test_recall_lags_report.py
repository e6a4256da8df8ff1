"""experiments/recall_lags.py on synthetic recall-lags cells: the table's rows and the figure."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

from helmrl.config import preset

from .conftest import load_script

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def report():
    return load_script("experiments/recall_lags.py")


def fake_cell(
    cells: Path, agent: str, lag: int, obs: str, seed: int, final: float, done: bool = True
) -> None:
    env = f"LagRecall-K{lag}-{obs}-v0"
    run = cells / "recall-lags" / f"{env}-{agent}-s{seed}"
    run.mkdir(parents=True)
    cfg = preset("lagrecall", agent).replace(env_id=env, seed=seed)
    cfg.save(run / "config.json")
    total = cfg.total_steps if done else cfg.total_steps // 2
    with open(run / "metrics.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["update", "step", "episode_return_mean", "time_s"])
        w.writerow([1, total // 2, -0.5, 1.0])
        w.writerow([2, total, final, 2.0])
    (run / "cell.json").write_text(json.dumps({"eval": {"greedy_mean": final + 0.01}}))


def test_finished_cells_become_rows_by_lag_and_kind_and_a_figure(report, tmp_path, capsys):
    cells, out = tmp_path / "cells", tmp_path / "out"
    out.mkdir()
    for lag, value in ((1, 0.9), (4, 0.2)):
        for seed in (0, 1):
            fake_cell(cells, "lstm", lag, "OneHot", seed, value)
            fake_cell(cells, "helm", lag, "Tiles", seed, value - 0.3)
    fake_cell(cells, "cnn", 2, "OneHot", 0, -0.5, done=False)  # unfinished: left out
    sys.argv = ["recall_lags.py", "--cells", str(cells), "--out", str(out)]
    report.main()
    with open(out / "recall-lags.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == report.COLUMNS and len(rows) == 8
    lstm = [r for r in rows if r["agent"] == "lstm"]
    assert {(r["lag"], r["obs"]) for r in lstm} == {("1", "onehot"), ("4", "onehot")}
    assert float(next(r for r in lstm if r["lag"] == "4")["final_return"]) == pytest.approx(0.2)
    assert float(lstm[0]["eval_greedy"]) == pytest.approx(float(lstm[0]["final_return"]) + 0.01)
    by_lag = {r["lag"]: r["steps_to_0.9"] for r in lstm}
    assert by_lag == {"1": str(preset("lagrecall", "lstm").total_steps), "4": ""}  # 0.9 at the end; never
    assert (out / "recall-lags.png").stat().st_size > 0


def test_no_finished_cell_leaves_a_header_only(report, tmp_path, capsys):
    (tmp_path / "out").mkdir()
    sys.argv = ["recall_lags.py", "--cells", str(tmp_path / "none"), "--out", str(tmp_path / "out")]
    report.main()
    assert (tmp_path / "out" / "recall-lags.csv").read_text().strip() == ",".join(report.COLUMNS)
    assert "header only" in capsys.readouterr().out


def test_the_probe_table_sets_each_lags_readout_return_beside_the_agents(report, tmp_path, capsys):
    """A probe that loses the symbol with the lag at the last layer and keeps it at layer 3: the
    table gives 2a - 1 per layer and HELM's mean one-hot return, and rho follows the ranks."""
    cells, out = tmp_path / "cells", tmp_path / "out"
    out.mkdir()
    probe = tmp_path / "probe.csv"
    acc_last = {1: 0.95, 2: 0.7, 4: 0.4, 8: 0.3}
    with open(probe, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["layer", "lag", "accuracy", "chance", "n_test"])
        for lag, a in {0: 1.0, **acc_last}.items():
            for layer in (0, 3, 30):
                w.writerow([layer, lag, {0: 0.25, 3: min(1.0, a + 0.1), 30: a}[layer], 0.27, 800])
    helm = {1: 0.8, 2: 0.3, 4: -0.2, 8: -0.4}
    for lag, value in helm.items():
        for seed, shift in ((0, -0.05), (1, 0.05)):
            fake_cell(cells, "helm", lag, "OneHot", seed, value + shift)
    fake_cell(cells, "lstm", 4, "OneHot", 0, 0.9)
    sys.argv = ["recall_lags.py", "--cells", str(cells), "--out", str(out), "--probe", str(probe)]
    report.main()
    with open(out / "recall-lags-probe.csv", newline="") as fh:
        table = {int(r["lag"]): r for r in csv.DictReader(fh)}
    assert sorted(table) == [1, 2, 4, 8]
    assert float(table[4]["predicted_return_last"]) == pytest.approx(2 * 0.4 - 1)
    assert table[4]["best_layer"] == "3" and float(table[4]["probe_best_layer"]) == pytest.approx(0.5)
    assert float(table[2]["return_helm"]) == pytest.approx(0.3)
    assert float(table[4]["return_lstm"]) == pytest.approx(0.9) and table[1]["return_lstm"] == ""
    assert "rho over 4 lags, last layer's predicted return vs HELM's: 1.00" in capsys.readouterr().out


def test_the_lag_table_sets_the_attention_read_against_the_lstm(report, tmp_path, capsys):
    cells, out = tmp_path / "cells", tmp_path / "out"
    for seed in (0, 1, 2):
        fake_cell(cells, "lstm", 4, "OneHot", seed, 0.9 + 0.01 * seed)  # mean 0.91
        fake_cell(cells, "lstm", 16, "OneHot", seed, -0.4)
    for seed in (0, 1, 2):
        run = cells / "recall-lags" / f"LagRecall-K4-OneHot-v0-helm-attention-s{seed}"
        fake_cell(cells, "helm", 4, "OneHot", seed, 0.87)  # the paper's read, a row of its own
        run.mkdir(parents=True)
        cfg = preset("lagrecall", "helm").replace(
            env_id="LagRecall-K4-OneHot-v0", seed=seed, history_read="attention", label="helm-attention"
        )
        cfg.save(run / "config.json")
        (run / "metrics.csv").write_text(
            f"update,step,episode_return_mean,time_s\n1,{cfg.total_steps},0.87,1.0\n"
        )
    sys.argv = ["recall_lags.py", "--cells", str(cells), "--out", str(out)]
    report.main()
    table = (out / "recall-lags-table.md").read_text()
    assert "| helm-attention | mean 0.870 (min 0.870, max 0.870), n = 3 |  |" in table
    assert "| lstm | mean 0.910 (min 0.900, max 0.920), n = 3 | mean -0.400" in table
    assert "- lag 4: helm-attention 0.870 (n = 3) against the LSTM's 0.910 (n = 3): within 0.05" in table
    assert "lag 16: helm-attention" not in table  # no attention cell at lag 16
    assert "tiles" not in table


def test_the_bias_table_reads_the_effective_steps_back_bias_from_each_checkpoint(report, tmp_path):
    import torch

    for gain in (1.0, 32.0):
        label = "helm-attention" if gain == 1.0 else "helm-attention-g32"
        run = tmp_path / "recall-lags" / f"LagRecall-K4-OneHot-v0-{label}-s0"
        run.mkdir(parents=True)
        cfg = preset("lagrecall", "helm").replace(
            env_id="LagRecall-K4-OneHot-v0", history_read="attention", read_offset_gain=gain, label=label
        )
        cfg.save(run / "config.json")
        theta = torch.zeros(cfg.net.read_window)
        theta[4], theta[0] = 0.2, 0.05
        torch.save({"update": 7, "agent": {"read.offset_bias": theta}}, run / "checkpoint.pt")
    plain, scaled = sorted(report.bias_rows(tmp_path), key=lambda r: r["gain"])
    assert (plain["bias_at_lag"], plain["gap"]) == (0.2, 0.15)
    assert (scaled["bias_at_lag"], scaled["gap"], scaled["update"]) == (6.4, 4.8, 7)
    weight = torch.exp(torch.tensor(6.4)) / (torch.exp(torch.tensor(6.4)) + torch.exp(torch.tensor(1.6)) + 30)
    assert scaled["bias_weight"] == pytest.approx(float(weight), abs=1e-4)
    assert scaled["top_offsets"] == "4: 6.40, 0: 1.60, 1: 0.00"


def test_the_bias_table_keeps_rows_whose_checkpoints_are_gone(report, tmp_path, capsys):
    path = tmp_path / "recall-lags-bias.csv"
    old = [
        {"variant": "helm-attention-g32", "env": "LagRecall-K4-OneHot-v0", "lag": 4, "seed": s, "gap": g}
        for s, g in ((0, 1.0), (1, 2.0))
    ]
    report.write(path, old, report.BIAS_COLUMNS)
    fresh = [{**old[1], "gap": 9.0}, {**old[0], "env": "LagRecall-K8-OneHot-v0", "lag": 8, "gap": 3.0}]
    rows = report.merged_bias_rows(path, fresh)
    assert [(int(r["lag"]), int(r["seed"]), float(r["gap"])) for r in rows] == [
        (4, 0, 1.0),
        (4, 1, 9.0),
        (8, 0, 3.0),
    ]
    assert "kept 1 rows" in capsys.readouterr().out
