"""experiments/randommaze_repro.py on tiny fake sweep cells: finished against unfinished cells, the
tables' columns, the evaluations carried from cell.json, the exact one-sided tests with Holm's
adjustment in their family, "confirmed" only at n >= 5 a side (never in the β screen), the
memory-needed pick, and headers without any cell."""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
from pathlib import Path

import pytest

from helmrl.analysis import curves
from helmrl.config import TrainConfig

from .conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
ENV = "RandomMaze-v0"
UPDATE = 16 * 128  # env steps per update at the randommaze preset: 16 envs x 128 rollout steps
REPRO, PEERS = "randommaze-repro", "randommaze-peers"
RANDOM, BETA = "randommaze-random-init", "randommaze-beta-screen"
HIGH, LOW = (0.9, 0.85, 0.95, 0.8, 0.92), (0.1, 0.0, 0.2, 0.05, 0.15)


@pytest.fixture(scope="module")
def report():
    module = load_script("experiments/randommaze_repro.py")
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
    total: int = 2_000_000,
    upto: int | None = None,
    evals: tuple[float, float] | None = None,
    lm: str = "smollm2-135m",
) -> Path:
    """A cell folder as a sweep leaves it: config.json, metrics.csv (one row every so many updates,
    the return rising to ``final``; the last update crosses total_steps as the trainer's does),
    cell.json (commit, CPU and, with ``evals``, the sampled and greedy evaluation)."""
    run = root / group / f"{ENV}-{label or agent}-s{seed}"
    run.mkdir(parents=True)
    cfg = TrainConfig(
        env_id=ENV,
        agent=agent,
        seed=seed,
        total_steps=total,
        label=label,
        n_envs=16,
        rollout_steps=128,
        lm=lm,
    )
    cfg.save(run / "config.json")
    last = -(-total // UPDATE) * UPDATE  # the first update at or past total_steps
    marks = sorted({(total * k // 8) // UPDATE * UPDATE for k in range(1, 9)} | {last})
    steps = [s for s in marks if s <= (upto or last)]
    with open(run / "metrics.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["update", "step", "episode_return_mean", "time_s"])
        for s in steps:
            w.writerow([s // UPDATE, s, final * s / last, s / 100])
    info = {"wall_s": 3000.0, "commits": ["abc1234"], "cpu_model": "CPU X", "device": "CPU X (avx2)"}
    if evals is not None:
        info["eval"] = {"episodes": 100, "sampled_mean": evals[0], "greedy_mean": evals[1]}
    (run / "cell.json").write_text(json.dumps(info))
    return run


def read(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as fh:
        r = csv.DictReader(fh)
        return list(r.fieldnames or []), list(r)


def build(report, tmp_path: Path) -> dict:
    (tmp_path / "cells").mkdir(exist_ok=True)
    with contextlib.redirect_stdout(io.StringIO()):
        return report.build_report(tmp_path / "cells", tmp_path / "out", tmp_path / "no-sweeps")


def line(verdicts: list[str], start: str) -> str:
    return next(v for v in verdicts if v.startswith(start))


def test_one_row_per_finished_cell_with_label_evaluations_cpu_and_commits(report, tmp_path) -> None:
    cells = tmp_path / "cells"
    cell(cells, REPRO, "helm", 0, 0.9, evals=(0.8, 0.95))
    cell(cells, REPRO, "cnn", 0, 0.3)  # finished, no evaluation in cell.json
    cell(cells, REPRO, "lstm", 0, 0.5, upto=1_000_000)  # still training: in no table
    cell(cells, BETA, "helm", 1, 0.4, label="helm-beta1000", total=500_000)
    result = build(report, tmp_path)
    header, rows = read(result["paths"]["cells"])
    columns = "group env agent label seed steps final_return eval_sampled eval_greedy wall_s fps"
    assert header == [*columns.split(), "cpu_model", "commits"]
    by = {(r["group"], r["agent"], r["label"], r["seed"]): r for r in rows}
    assert sorted(by) == [
        (BETA, "helm", "helm-beta1000", "1"), (REPRO, "cnn", "", "0"), (REPRO, "helm", "", "0"),
    ]  # fmt: skip
    helm = by[(REPRO, "helm", "", "0")]
    assert (helm["eval_sampled"], helm["eval_greedy"]) == ("0.8", "0.95")
    assert helm["steps"] == str(977 * UPDATE) and float(helm["final_return"]) == pytest.approx(0.9)
    assert (helm["cpu_model"], helm["commits"], helm["env"]) == ("CPU X", "abc1234", ENV)
    cnn = by[(REPRO, "cnn", "", "0")]
    assert cnn["eval_sampled"].lower() == cnn["eval_greedy"].lower() == "nan"
    md = result["paths"]["cells_md"].read_text().splitlines()
    assert md[0] == (
        "| group | agent | seed | 500k | 1M | 2M | final | eval sampled | eval greedy | commits | CPU |"
    )
    assert len(md) == 5 and all(ln.count("|") == md[0].count("|") for ln in md)
    helm_md = next(ln for ln in md if "| HELM | 0 |" in ln)
    assert "| 0.800 | 0.950 | abc1234 | CPU X |" in helm_md
    beta_md = next(ln for ln in md if "helm-beta1000" in ln)
    assert "| - | - |" in beta_md  # a 500k screen has no 1M or 2M return
    assert result["figures"][REPRO].exists() and result["figures"][PEERS] is None
    assert (
        read(tmp_path / "out" / f"{REPRO}-curves.csv")[0]
        == load_script("experiments/grid_report.py").CURVE_COLUMNS
    )
    assert not list((tmp_path / "out").glob("*_summary.csv"))


def test_the_return_at_2m_is_the_last_update_below_it(report, tmp_path) -> None:
    # 2M is no multiple of 16 x 128: the last update <= 2M is at 1998848, 1152 steps short of it
    run = cell(tmp_path, REPRO, "helm", 0, 1.0)
    (c,) = report.load_cells(tmp_path, REPRO, ENV)
    last = 977 * UPDATE
    assert c.finished and c.return_at(2_000_000) == pytest.approx(976 * UPDATE / last)
    assert c.return_at(500_000) == pytest.approx(244 * UPDATE / last)  # 499712
    running = cell(tmp_path, REPRO, "lstm", 0, 1.0, upto=1_000_000)
    (c,) = [c for c in report.load_cells(tmp_path, REPRO, ENV) if c.run == running]
    assert not c.finished and c.return_at(2_000_000) is None and c.return_at(1_000_000) is not None
    assert run.exists()


def test_iqm_rows_per_step_and_measure_with_small_n_labels(report, tmp_path) -> None:
    cells = tmp_path / "cells"
    for seed, final in enumerate((0.9, 0.8, 0.95)):
        cell(cells, REPRO, "helm", seed, final, evals=(final - 0.1, final))
    for seed, final in enumerate((0.5, 0.6, 0.7, 0.9)):
        cell(cells, REPRO, "cnn", seed, final)
    cell(cells, BETA, "helm", 0, 0.4, total=500_000, evals=(0.3, 0.5))
    header, rows = read(build(report, tmp_path)["paths"]["iqm"])
    assert header == "group agent step measure runs seeds statistic iqm ci_low ci_high ci returns".split()
    by = {(r["group"], r["agent"], r["step"], r["measure"]): r for r in rows}
    helm = by[(REPRO, "helm", "2000000", "training")]  # 3 runs: the plain mean and the range, no CI
    assert helm["runs"] == "3" and helm["seeds"] == "0 1 2" and helm["statistic"] == "mean, min-max"
    assert helm["ci_low"] == helm["ci_high"] == "" and helm["ci"].startswith("n=3, no CI; min 0.79")
    greedy = by[(REPRO, "helm", "2000000", "eval_greedy")]
    assert float(greedy["iqm"]) == pytest.approx((0.9 + 0.8 + 0.95) / 3, abs=1e-3)
    assert greedy["ci"] == "n=3, no CI; min 0.800, max 0.950"
    assert (REPRO, "helm", "1000000", "eval_greedy") not in by  # the evaluations: at the final step only
    cnn = by[(REPRO, "cnn", "2000000", "training")]  # 4 runs: the IQM and its bootstrap CI
    assert cnn["statistic"] == "IQM, 95% CI" and float(cnn["ci_low"]) <= float(cnn["iqm"]) <= float(
        cnn["ci_high"]
    )
    assert (REPRO, "cnn", "2000000", "eval_sampled") not in by  # no evaluation recorded: no row
    screen = [k for k in by if k[0] == BETA]
    assert sorted(screen) == [
        (BETA, "helm", "500000", m) for m in ("eval_greedy", "eval_sampled", "training")
    ]
    assert by[(BETA, "helm", "500000", "training")]["ci"] == "n=1, no CI"


def test_five_against_five_separated_is_confirmed_with_holm_over_the_claim(report, tmp_path) -> None:
    cells = tmp_path / "cells"
    for seed in range(5):
        cell(cells, REPRO, "helm", seed, HIGH[seed])
        cell(cells, REPRO, "lstm", seed, LOW[seed])
        cell(cells, REPRO, "cnn", seed, LOW[seed] + 0.01)
    result = build(report, tmp_path)
    header, rows = read(result["paths"]["tests"])
    assert header == report.TEST_COLUMNS and "measure" in header and "note" in header
    claim = {t["comparison"]: t for t in result["tests"] if t["family"] == "the paper's claim"}
    claim = {k: t for k, t in claim.items() if t["step"] == 2_000_000 and t["measure"] == "training"}
    assert sorted(claim) == ["HELM > CNN-PPO", "HELM > Impala-PPO"]
    for t in claim.values():
        assert t["p_exact"] == pytest.approx(1 / 252, abs=1e-4) and t["family_size"] == 2
        assert t["p_holm"] == pytest.approx(2 / 252, abs=1e-4) and t["significant_holm"] is True
    impala = line(result["verdicts"]["training"], "HELM > Impala-PPO: ")
    assert impala.startswith("HELM > Impala-PPO: confirmed (one-sided Mann-Whitney p = 0.0040 exact")
    assert 'Holm-adjusted 0.0079 over the 2 tests of family "the paper\'s claim"' in impala
    assert "n = 5 (HELM) and 5 (Impala-PPO) of 5 seeds finished" in impala and "HELM IQM 0.889 [" in impala
    assert "normal approx." in impala
    # every step has its test; the evaluations have none (no cell.json eval): no rows for them
    steps = sorted(
        {(t["step"], t["measure"]) for t in result["tests"] if t["comparison"] == "HELM > CNN-PPO"}
    )
    assert steps == [(500_000, "training"), (1_000_000, "training"), (2_000_000, "training")]
    greedy = line(result["verdicts"]["eval_greedy"], "HELM > Impala-PPO [eval_greedy]: ")
    assert greedy.startswith("HELM > Impala-PPO [eval_greedy]: open: n = 0 (HELM) and 0")


def test_five_against_three_is_open_and_not_significant_is_not_confirmed(report, tmp_path) -> None:
    cells = tmp_path / "cells"
    for seed in range(5):
        cell(cells, REPRO, "helm", seed, HIGH[seed])
        cell(cells, REPRO, "cnn", seed, HIGH[seed] + 0.01)  # CNN-PPO as good: not significant
    for seed in range(3):
        cell(cells, REPRO, "lstm", seed, LOW[seed])
    lines = build(report, tmp_path)["verdicts"]["training"]
    impala = line(lines, "HELM > Impala-PPO: ")
    assert impala.startswith("HELM > Impala-PPO: open: n = 5 (HELM) and 3 (Impala-PPO) of 5 seeds finished")
    assert "Impala-PPO mean 0.100 (min 0.000, max 0.200), n = 3" in impala and "p = 0.0179 exact" in impala
    cnn = line(lines, "HELM > CNN-PPO: ")
    assert cnn.startswith("HELM > CNN-PPO: not confirmed (one-sided Mann-Whitney p = ")


def test_the_beta_screen_is_never_confirmed_and_reports_both_directions(report, tmp_path) -> None:
    cells = tmp_path / "cells"
    for seed in range(5):  # more seeds than the screen plans, all separated: still a screen
        cell(cells, BETA, "helm", seed, LOW[seed], total=500_000)
        cell(cells, BETA, "helm", seed, HIGH[seed], label="helm-beta1000", total=500_000)
    result = build(report, tmp_path)
    lines = result["verdicts"]["training"]
    up = line(lines, "β screen: HELM at β = 1000 > HELM at β = 100: ")
    assert up.startswith(
        "β screen: HELM at β = 1000 > HELM at β = 100: screen (n = 5 vs 5, a screening group)"
    )
    assert 'p = 0.0040 exact (Holm-adjusted 0.0079 over the 2 tests of family "β screen")' in up
    assert "confirmed" not in up and " at 500k" in up
    down = line(lines, "β screen: HELM at β = 100 > HELM at β = 1000: ")
    assert "p = 1.0000 exact" in down and "confirmed" not in down
    screen = [t for t in result["tests"] if t["family"] == "β screen"]
    assert {t["step"] for t in screen} == {500_000}  # 500k cells: no 1M or 2M test


def test_two_against_two_in_the_screen_reads_screen(report, tmp_path) -> None:
    cells = tmp_path / "cells"
    for seed in range(2):
        cell(cells, BETA, "helm", seed, LOW[seed], total=500_000)
        cell(cells, BETA, "helm", seed, HIGH[seed], label="helm-beta1000", total=500_000)
    lines = build(report, tmp_path)["verdicts"]["training"]
    up = line(lines, "β screen: HELM at β = 1000 > HELM at β = 100: ")
    assert up.startswith("β screen: HELM at β = 1000 > HELM at β = 100: screen (n = 2 vs 2, under 5 a side)")
    assert "confirmed" not in up and "p = 0.1667 exact" in up  # 1/6, the least 2 vs 2 can give


def test_the_memory_pick_names_the_best_agents_with_five_runs(report, tmp_path) -> None:
    cells = tmp_path / "cells"
    for seed in range(5):
        cell(cells, REPRO, "helm", seed, 0.7 + 0.01 * seed)
        cell(cells, REPRO, "lstm", seed, 0.8 + 0.01 * seed)  # the best memory agent
        cell(cells, REPRO, "cnn", seed, 0.2 + 0.01 * seed)
        cell(cells, PEERS, "sb3-ppo", seed, 0.4 + 0.01 * seed)  # the best memoryless agent
    for seed in range(3):
        cell(cells, PEERS, "sb3-lstm", seed, 0.99)  # higher, but n = 3: not eligible
    result = build(report, tmp_path)
    pick = result["pick"]
    assert (pick.memory, pick.memoryless) == ((REPRO, "lstm"), (PEERS, "sb3-ppo"))
    assert "sb3-lstm (outside peer) 0.989 (n = 3)" in pick.text and "optimistic" in pick.text
    title = "memory needed (best memory agent Impala-PPO > best memoryless agent sb3-ppo (outside peer))"
    memory = [t for t in result["tests"] if t["comparison"] == title and t["step"] == 2_000_000]
    assert len(memory) == 1 and memory[0]["family"] == "memory needed" and "optimistic" in memory[0]["note"]
    verdict = line(result["verdicts"]["training"], title)
    assert verdict.startswith(f"{title}: confirmed (") and "this p is optimistic" in verdict
    assert 'family "memory needed" has this one test, no adjustment' in verdict
    # the peers: sb3-ppo against helmrl's CNN-PPO, sb3-lstm (3 of 5 seeds) against Impala-PPO
    peers = {t["comparison"]: t for t in result["tests"] if t["family"] == "peers" and t["step"] == 2_000_000}
    ppo = peers["sb3-ppo (outside peer) > CNN-PPO"]
    assert (ppo["group_b"], ppo["agent_b"], ppo["significant"]) == (REPRO, "cnn", True)
    lstm = line(result["verdicts"]["training"], "sb3-lstm (outside peer) > Impala-PPO: ")
    assert lstm.startswith(
        "sb3-lstm (outside peer) > Impala-PPO: open: n = 3 (sb3-lstm (outside peer)) and 5"
    )


def test_without_five_runs_a_side_there_is_no_memory_pick(report, tmp_path) -> None:
    cells = tmp_path / "cells"
    for seed in range(5):
        cell(cells, REPRO, "helm", seed, 0.9)
    result = build(report, tmp_path)
    assert result["pick"].memory == (REPRO, "helm") and result["pick"].memoryless is None
    assert not any(c.family == "memory needed" for c in result["comparisons"])
    lines = result["verdicts"]["training"]
    assert lines[2].startswith("memory needed (best memory agent > best memoryless agent): open: no pick yet")
    assert "best memoryless agent: none with n >= 5 yet" in lines[2]


def test_evaluations_flow_from_cell_json_into_their_own_tests(report, tmp_path) -> None:
    cells = tmp_path / "cells"
    for seed in range(5):  # equal training returns; the greedy evaluation separates them
        cell(cells, REPRO, "helm", seed, 0.5 + 0.01 * seed, evals=(0.5, HIGH[seed]))
        cell(cells, REPRO, "lstm", seed, 0.5 + 0.01 * seed, evals=(0.5, LOW[seed]))
        cell(cells, RANDOM, "helm", seed, 0.5, lm="random-init", evals=(0.5, LOW[seed]))
    result = build(report, tmp_path)
    by = {(t["comparison"], t["measure"], t["step"]): t for t in result["tests"]}
    greedy = by[("HELM > Impala-PPO", "eval_greedy", 2_000_000)]
    assert greedy["p_exact"] == pytest.approx(1 / 252, abs=1e-4) and greedy["family_size"] == 1
    assert by[("HELM > Impala-PPO", "eval_sampled", 2_000_000)]["p_exact"] == pytest.approx(1.0)
    assert by[("HELM > Impala-PPO", "training", 2_000_000)]["significant"] is False
    lm = by[("HELM > random-init HELM", "eval_greedy", 2_000_000)]
    assert (lm["group_b"], lm["family"], lm["significant"]) == (RANDOM, "LM pretraining", True)
    verdicts = result["verdicts"]
    assert line(verdicts["eval_greedy"], "HELM > Impala-PPO [eval_greedy]: ").startswith(
        "HELM > Impala-PPO [eval_greedy]: confirmed ("
    )
    assert line(verdicts["training"], "HELM > Impala-PPO: ").startswith("HELM > Impala-PPO: not confirmed (")
    rows = read(result["paths"]["tests"])[1]
    assert {r["measure"] for r in rows} == {"training", "eval_sampled", "eval_greedy"}


def test_no_cells_writes_every_header_and_removes_stale_figures(report, tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "randommaze-repro.csv").write_text("stale\n1\n")
    (out / f"{REPRO}-curves.png").write_bytes(b"stale")
    result = build(report, tmp_path)
    for path in result["paths"].values():
        if path.suffix == ".md":  # the Markdown table: its header and rule only
            assert len(path.read_text().splitlines()) == 2
            continue
        header, rows = read(path)
        assert header and rows == []
    assert read(out / "randommaze-repro-tests.csv")[0] == report.TEST_COLUMNS
    assert not (out / f"{REPRO}-curves.png").exists()
    lines = result["verdicts"]["training"]
    assert lines[0].startswith("HELM > Impala-PPO: open: n = 0 (HELM) and 0 (Impala-PPO) of 5 seeds finished")
    assert not any(": confirmed" in v or "not confirmed" in v for m in result["verdicts"].values() for v in m)


def test_help_names_the_default_folders(report, capsys) -> None:
    with pytest.raises(SystemExit):
        report.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"(default {report.CELLS})" in text and f"(default {report.RESULTS})" in text
    assert str(report.CELLS).endswith("benchmarks/results/cells") and str(report.RESULTS).endswith("results")
