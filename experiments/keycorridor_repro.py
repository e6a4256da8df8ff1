"""The KeyCorridorS3R1 reproduction report: helmrl's agents and peers against the paper's curves,
and the screening ablation of what made helmrl's CNN-PPO miss.

    .venv/bin/python experiments/keycorridor_repro.py

Reads the run directories under benchmarks/results/cells/ (each a helmrl run: config.json +
metrics.csv) and writes:
- benchmarks/results/keycorridor-repro.csv: one row per finished 300k cell of the reproduction
  grid (keycorridor-repro) and the peers (keycorridor-peers), in learning.csv's columns;
- benchmarks/results/keycorridor-repro-iqm.csv: per agent, IQM [95% CI] of the return at 100k,
  200k and 300k steps (every run that reached the step), next to the paper's mean;
- benchmarks/results/keycorridor-repro.png: the curves with the paper's points;
- benchmarks/results/keycorridor-helm-screen.csv: HELM's screening cells at the paper's points;
- benchmarks/results/keycorridor-ablation.csv: each CNN-PPO screening variant's return at 200k, its IQM
  [CI], and the difference of means to the grid's CNN-PPO (bootstrap CI over seeds).
A return "at S steps" is the logged mean of the last 100 episodes at the last update <= S.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from helmrl.analysis.curves import iqm_with_ci, plot_runs, read_reference
from helmrl.ppo.metrics import read_metrics

RESULTS = Path(__file__).parents[1] / "benchmarks" / "results"
CELLS = RESULTS / "cells"
PAPER = RESULTS / "paper_curves.csv"
ENV = "MiniGrid-KeyCorridorS3R1-v0"
CHECKPOINTS = (100_000, 200_000, 300_000)


def runs_in(folder: Path) -> list[Path]:
    return sorted(d for d in folder.glob(f"{ENV}-*") if (d / "metrics.csv").exists())


def label(run: Path) -> str:
    cfg = json.loads((run / "config.json").read_text())
    return cfg.get("label") or cfg["agent"]


def return_at(run: Path, step: int) -> float | None:
    rows = [r for r in read_metrics(run) if r["step"] <= step]
    if (
        not rows
        or rows[-1]["step"] < step - 1024
        or rows[-1]["episode_return_mean"] != rows[-1]["episode_return_mean"]
    ):
        return None  # the run has not reached this step
    return float(rows[-1]["episode_return_mean"])


def diff_ci(a: np.ndarray, b: np.ndarray, reps: int = 5000) -> tuple[float, float, float]:
    """Difference of means a - b with a 95% bootstrap CI (seeds resampled within each group)."""
    rng = np.random.default_rng(0)
    da = a[rng.integers(0, len(a), (reps, len(a)))].mean(1)
    db = b[rng.integers(0, len(b), (reps, len(b)))].mean(1)
    d = da - db
    return float(a.mean() - b.mean()), float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))


def write(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {path}")


def main() -> None:
    grid = runs_in(CELLS / "keycorridor-repro") + runs_in(CELLS / "keycorridor-peers")
    paper = {(r["agent"], int(r["step"])): r["return"] for r in read_reference(PAPER)}

    finished = []
    for run in grid:
        rows = read_metrics(run)
        last = rows[-1]
        if last["step"] >= 300_000:
            fps = [r["fps"] for r in rows if r["fps"] == r["fps"]]
            finished.append(
                dict(
                    env=ENV,
                    agent=label(run),
                    seed=json.loads((run / "config.json").read_text())["seed"],
                    steps=int(last["step"]),
                    final_return=round(float(last["episode_return_mean"]), 4),
                    wall_s=round(float(last["time_s"]), 1),
                    fps=round(float(fps[-1]), 1) if fps else "",
                )
            )
    write(RESULTS / "keycorridor-repro.csv", finished)

    table = []
    for agent in sorted({label(r) for r in grid}):
        runs = [r for r in grid if label(r) == agent]
        for step in CHECKPOINTS:
            vals = np.array([v for r in runs if (v := return_at(r, step)) is not None])
            if len(vals) == 0:
                continue
            iqm, lo, hi = iqm_with_ci(vals)
            table.append(
                dict(
                    agent=agent,
                    step=step,
                    runs=len(vals),
                    iqm=round(iqm, 3),
                    ci_low=round(lo, 3),
                    ci_high=round(hi, 3),
                    returns=" ".join(f"{v:.3f}" for v in vals),
                    paper_mean=paper.get((agent, step), ""),
                )
            )
    write(RESULTS / "keycorridor-repro-iqm.csv", table)
    screen = runs_in(CELLS / "keycorridor-screen")
    if grid or screen:  # every curve against the paper's points
        res = plot_runs(grid + screen, RESULTS / "keycorridor-repro.png", reference=read_reference(PAPER))
        print(f"wrote {res['png']}")

    # HELM's screening cells: the return at each of the paper's points that the run reached.
    helm = []
    for run in screen:
        if json.loads((run / "config.json").read_text())["agent"] != "helm":
            continue
        for step in (50_000, 100_000, 150_000, 200_000, 300_000):
            value = return_at(run, step)
            if value is not None:
                helm.append(
                    dict(
                        variant=label(run),
                        seed=json.loads((run / "config.json").read_text())["seed"],
                        step=step,
                        return_=round(value, 3),
                        paper_mean=paper.get(("helm", step), ""),
                    )
                )
    write(RESULTS / "keycorridor-helm-screen.csv", helm)

    # The screening ablation, against the grid's CNN-PPO (earlier PPO details, HELM's settings).
    base_runs = [r for r in runs_in(CELLS / "keycorridor") if label(r) == "cnn"]
    base = np.array([v for r in base_runs if (v := return_at(r, 200_000)) is not None])
    ablation = []
    for variant in sorted({label(r) for r in screen if not label(r).startswith("helm")}):
        vals = np.array(
            [v for r in screen if label(r) == variant and (v := return_at(r, 200_000)) is not None]
        )
        if len(vals) == 0:
            continue
        iqm, lo, hi = iqm_with_ci(vals)
        d, dlo, dhi = diff_ci(vals, base) if len(base) else (float("nan"),) * 3
        ablation.append(
            dict(
                variant=variant,
                runs=len(vals),
                returns_at_200k=" ".join(f"{v:.3f}" for v in vals),
                iqm=round(iqm, 3),
                ci_low=round(lo, 3),
                ci_high=round(hi, 3),
                mean_minus_grid_cnn=round(d, 3),
                diff_ci_low=round(dlo, 3),
                diff_ci_high=round(dhi, 3),
            )
        )
    if len(base):
        ablation.insert(
            0,
            dict(
                variant="grid cnn (earlier PPO details)",
                runs=len(base),
                returns_at_200k=" ".join(f"{v:.3f}" for v in base),
                iqm=round(iqm_with_ci(base)[0], 3),
                ci_low=round(iqm_with_ci(base)[1], 3),
                ci_high=round(iqm_with_ci(base)[2], 3),
                mean_minus_grid_cnn=0.0,
                diff_ci_low="",
                diff_ci_high="",
            ),
        )
    write(RESULTS / "keycorridor-ablation.csv", ablation)
    for row in table:
        print(row)
    for row in ablation:
        print(row)


if __name__ == "__main__":
    main()
