"""Learning-curve plots from metrics.csv: one run's curve (``helmrl train``), and runs pooled per
(env, agent) across seeds with the paper's summary statistic (``helmrl plot``, sweeps, reports).

The numbers (IQM, bootstrap CIs, the common grid of steps) come from ``.statistics``.
"""

from __future__ import annotations

import csv
import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..ppo.metrics import CONFIG, read_metrics  # noqa: E402
from .statistics import bootstrap_mean_ci, common_grid, on_grid, summarize  # noqa: E402


@dataclass
class RunCurve:
    run_dir: Path
    env_id: str
    agent: str
    seed: int
    steps: np.ndarray
    returns: np.ndarray  # logged recent-episode mean return; rows before any episode dropped

    @property
    def final(self) -> float:
        return float(self.returns[-1])


def load_run(run_dir: Path) -> RunCurve:
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).exists():
        raise FileNotFoundError(f"{run_dir}: no config.json; is it a helmrl run directory?")
    cfg = json.loads((run_dir / CONFIG).read_text())
    rows = [r for r in read_metrics(run_dir) if np.isfinite(r["episode_return_mean"])]
    if not rows:
        raise ValueError(f"{run_dir}: no finished episode logged yet; train longer before plotting")
    return RunCurve(
        run_dir,
        cfg["env_id"],
        cfg["agent"] + (f":{cfg['label']}" if cfg.get("label") else ""),
        int(cfg["seed"]),
        np.array([r["step"] for r in rows]),
        np.array([r["episode_return_mean"] for r in rows]),
    )


def plot_learning_curve(run_dir: Path, out: Path | None = None) -> Path:
    """Return (mean of the last episodes) against env steps for one run -> PNG path."""
    run_dir = Path(run_dir)
    rows = read_metrics(run_dir)
    out = out or run_dir / "learning_curve.png"
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    steps = [r["step"] for r in rows]
    ax.plot(steps, [r["episode_return_mean"] for r in rows], lw=1.5)
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode return (recent mean)")
    ax.set_title(run_dir.name, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def read_reference(path: Path) -> list[dict]:
    """Published points to draw over runs: a CSV with env_id, agent, step, return (and source)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    need = {"env_id", "agent", "step", "return"}
    if not rows or not need <= set(rows[0]):
        raise ValueError(f"{path}: a reference CSV needs the columns {', '.join(sorted(need))}")
    return [dict(r, step=float(r["step"]), **{"return": float(r["return"])}) for r in rows]


def plot_runs(
    run_dirs: list[Path],
    out: Path,
    points: int = 100,
    reference: list[dict] | None = None,
    title: str | None = None,
) -> dict:
    """Curves grouped by (env, agent) with mean and 95% bootstrap band across seeds -> PNG + CSVs.
    ``reference`` points (``read_reference``) are drawn as markers in their agent's colour;
    ``title`` goes above the panels (each panel is titled with its env).

    The summary table (``<out>_summary.csv``) has each group's final return as
    ``helmrl.analysis.statistics.summarize`` gives it (``statistic``, ``center``, ``low``, ``high``):
    the IQM with its 95% stratified-bootstrap CI from 4 runs, the mean and min-max for 2 or 3, and
    for one run its value (``low``/``high`` empty, None in the returned rows)."""
    runs = [load_run(d) for d in run_dirs]
    groups: dict[tuple[str, str], list[RunCurve]] = {}
    for r in runs:
        groups.setdefault((r.env_id, r.agent), []).append(r)
    envs = sorted({k[0] for k in groups})
    fig, axes = plt.subplots(1, len(envs), figsize=(6 * len(envs), 4), dpi=120, squeeze=False)
    names = sorted({a for _, a in groups} | {r["agent"] for r in reference or []})
    palette = {name: f"C{i % 10}" for i, name in enumerate(names)}  # one colour per agent, runs and paper
    curve_rows, summary = [], []
    for (env_id, agent), members in sorted(groups.items()):
        grid = common_grid([r.steps for r in members], points)
        ys = on_grid(grid, [(r.steps, r.returns) for r in members])
        mean = ys.mean(0)
        lo, hi = bootstrap_mean_ci(ys) if len(members) > 1 else (mean, mean)
        ax = axes[0, envs.index(env_id)]
        ax.plot(grid, mean, color=palette[agent], label=f"{agent} (n={len(members)})")
        ax.fill_between(grid, lo, hi, color=palette[agent], alpha=0.2)
        ax.set_title(env_id, fontsize=10)
        ax.set_xlabel("env steps")
        ax.set_ylabel("episode return")
        ax.grid(alpha=0.3)
        for s, m, a, b in zip(grid, mean, lo, hi, strict=True):
            curve_rows.append(dict(env_id=env_id, agent=agent, step=int(s), mean=m, ci_low=a, ci_high=b))
        finals = np.array([r.final for r in members])
        summary.append(
            dict(
                env_id=env_id,
                agent=agent,
                runs=len(members),
                **summarize(finals),
                finals=" ".join(f"{f:.4f}" for f in finals),
                run_dirs=" ".join(str(r.run_dir) for r in members),
            )
        )
    for key in sorted({(r["env_id"], r["agent"]) for r in reference or []}):
        if key[0] not in envs:
            continue
        pts = sorted((r["step"], r["return"]) for r in reference if (r["env_id"], r["agent"]) == key)
        ax = axes[0, envs.index(key[0])]
        ax.plot(
            *zip(*pts, strict=True),
            "o--",
            color=palette[key[1]],
            ms=5,
            lw=0.8,
            label=f"{key[1]} (paper)",
        )
    for ax in axes[0]:
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(textwrap.fill(title, 40 * len(envs) + 35), fontsize=8)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out)
    plt.close(fig)
    _write_csv(out.with_suffix(".csv"), curve_rows)
    _write_csv(out.with_name(out.stem + "_summary.csv"), summary)
    return {
        "png": out,
        "curves_csv": out.with_suffix(".csv"),
        "summary_csv": out.with_name(out.stem + "_summary.csv"),
        "summary": summary,
    }


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
