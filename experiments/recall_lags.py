"""Exact recall by lag: the recall-lags cells as one table and one figure.

    .venv/bin/python experiments/recall_lags.py [--cells DIR] [--out DIR]

Reads the finished cells of ``benchmarks/sweeps/recall-lags.toml`` (LagRecall-K{k}-{OneHot,Tiles}-v0,
every agent, every seed) under ``<cells>/recall-lags/`` and writes into ``<out>``:

- recall-lags.csv: a row per finished cell: agent, variant (the sweep's label, "" for the
  preset's), env, lag, obs, seed, final_return (the mean return of the last 100 training
  episodes), eval_greedy (the final policy over 100 fresh episodes, greedy), steps;
- recall-lags.png: the final return against the lag, per agent and variant (the mean over seeds
  with each seed's point), a panel per observation kind, with chance (−0.5) and perfect recall
  (1.0) drawn.

A return of 1 means every lag-k symbol named; chance −0.5 is what any policy without memory of
step t − k gets.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from grid_report import load_cells, parser, write

ROOT = Path(__file__).resolve().parents[1]
GROUP = "recall-lags"
COLUMNS = ["agent", "variant", "env", "lag", "obs", "seed", "final_return", "eval_greedy", "steps"]
ENV = re.compile(r"LagRecall-K(\d+)-(OneHot|Tiles)-v0")
CHANCE = -0.5


def rows_of(cells_dir: Path) -> list[dict]:
    """A row per finished recall-lags cell."""
    rows = []
    for cell in load_cells(cells_dir, GROUP, "LagRecall"):
        match = ENV.fullmatch(cell.cfg.env_id)
        if not cell.finished or match is None:
            continue
        rows.append(
            {
                "agent": cell.cfg.agent,
                "variant": cell.cfg.label,
                "env": cell.cfg.env_id,
                "lag": int(match.group(1)),
                "obs": match.group(2).lower(),
                "seed": cell.cfg.seed,
                "final_return": cell.rows[-1]["episode_return_mean"],
                "eval_greedy": cell.eval_mean("eval_greedy"),
                "steps": int(cell.rows[-1]["step"]),
            }
        )
    return sorted(rows, key=lambda r: (r["agent"], r["variant"], r["obs"], r["lag"], r["seed"]))


def plot(rows: list[dict], png: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = ("onehot", "tiles")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, kind in zip(axes, kinds, strict=True):
        runs = sorted({(r["agent"], r["variant"]) for r in rows if r["obs"] == kind})
        for agent, variant in runs:
            mine = [r for r in rows if r["obs"] == kind and (r["agent"], r["variant"]) == (agent, variant)]
            lags = sorted({r["lag"] for r in mine})
            means = [np.mean([r["final_return"] for r in mine if r["lag"] == k]) for k in lags]
            label = agent + (f":{variant}" if variant else "")
            (line,) = ax.plot(lags, means, marker="o", label=label)
            ax.scatter(
                [r["lag"] for r in mine], [r["final_return"] for r in mine], s=8, color=line.get_color()
            )
        ax.axhline(CHANCE, color="grey", ls="--", lw=1, label="chance")
        ax.axhline(1.0, color="grey", ls=":", lw=1, label="perfect recall")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("lag k (steps back)")
        ax.set_title(f"LagRecall, {kind}")
    axes[0].set_ylabel("final return (last 100 episodes)")
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return png


def main() -> None:
    ap = parser(__doc__, ROOT / "benchmarks" / "results" / "cells", ROOT / "benchmarks" / "results")
    args = ap.parse_args()
    rows = rows_of(args.cells)
    write(args.out / "recall-lags.csv", rows, COLUMNS)
    if rows:
        print(f"wrote {plot(rows, args.out / 'recall-lags.png')}")
    else:
        print(f"no finished cell under {args.cells / GROUP}: recall-lags.csv has its header only")


if __name__ == "__main__":
    main()
