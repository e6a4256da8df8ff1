"""Exact recall by lag: the recall-lags cells as one table and one figure.

    .venv/bin/python experiments/recall_lags.py [--cells DIR] [--out DIR]

Reads the finished cells of ``benchmarks/sweeps/recall-lags.toml`` (LagRecall-K{k}-{OneHot,Tiles}-v0,
every agent, every seed) under ``<cells>/recall-lags/`` and writes into ``<out>``:

- recall-lags.csv: a row per finished cell: agent, variant (the sweep's label, "" for the
  preset's), env, lag, obs, seed, final_return (the mean return of the last 100 training
  episodes), eval_greedy (the final policy over 100 fresh episodes, greedy), steps, steps_to_0.9
  (the first logged step at which the mean return of the last 100 episodes reached 0.9);
- recall-lags.png: the final return against the lag, per agent and variant (the mean over seeds
  with each seed's point), a panel per observation kind, with chance (−0.5) and perfect recall
  (1.0) drawn;
- recall-lags-table.md: per observation kind, the return of each agent at each lag (the mean and
  range of 2-3 seeds, the IQM and CI from 4), and each trainable read (the ``helm-attention*``
  and ``helm-window`` variants) against the LSTM at each lag: within 0.05 of it, above it, or
  below by how much.

A return of 1 means every lag-k symbol named; chance −0.5 is what any policy without memory of
step t − k gets.

With ``--probe`` (default: the memory study's synthetic probe of SmolLM2 on 4 one-hot symbols,
benchmarks/results/memory_probe_synthetic.csv) it also writes recall-lags-probe.csv: per lag, the
held-out accuracy a of a linear probe for the symbol k steps back at the paper's layer (the last)
and at the best layer, the return 2a − 1 that a readout as accurate as the probe would earn (+1
right, −1 wrong; a = 1/4 gives chance, −0.5), beside each agent's mean one-hot return at that lag.
It prints Spearman's rank correlation over lags between the last layer's prediction and HELM's
return: does what a linear read of the frozen state keeps predict what HELM learns?

With ``--biases RUNS`` (a sweep's output folder, holding each cell's checkpoint.pt) it also writes
recall-lags-bias.csv: per attention-read cell, its learned steps-back bias at the lag (gain x the
parameter), its gap over the largest bias elsewhere in the window, and the weight the bias alone
gives the lag-k state (a softmax over the whole window): how far the read has singled out
"exactly k steps back", and the three largest biases (offset: bias), which name the offset a read
settled on instead. Rows already in the CSV for cells whose checkpoints are not under RUNS (a
checkpoint is not part of a cell's committed record) are kept, so the file only ever gains cells.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
from grid_report import iqm_ci, load_cells, markdown_table, parser, spread, write

ROOT = Path(__file__).resolve().parents[1]
GROUP = "recall-lags"
COLUMNS = [
    "agent",
    "variant",
    "env",
    "lag",
    "obs",
    "seed",
    "final_return",
    "eval_greedy",
    "steps",
    "steps_to_0.9",
]
FAST = 0.9  # steps_to_0.9: how soon a cell recalls
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
                "steps_to_0.9": next(
                    (int(r["step"]) for r in cell.rows if float(r["episode_return_mean"]) >= FAST), ""
                ),
            }
        )
    return sorted(rows, key=lambda r: (r["agent"], r["variant"], r["obs"], r["lag"], r["seed"]))


def label(agent: str, variant: str) -> str:
    return variant or agent


def lag_tables(rows: list[dict]) -> str:
    """Markdown: a table per observation kind (agent x lag), then the attention read against the
    LSTM at every lag both have."""
    out = []
    for kind in ("onehot", "tiles"):
        mine = [r for r in rows if r["obs"] == kind]
        if not mine:
            continue
        lags = sorted({r["lag"] for r in mine})
        runs = sorted({(r["agent"], r["variant"]) for r in mine})
        body = []
        for run in runs:
            cells = []
            for k in lags:
                vals = [
                    r["final_return"] for r in mine if (r["agent"], r["variant"]) == run and r["lag"] == k
                ]
                cells.append(spread(np.array(vals)) if vals else "")
            body.append([label(*run), *cells])
        out += [f"**{kind}** (final return; chance {CHANCE}, perfect 1.0)", ""]
        out += [markdown_table(["agent", *(f"lag {k}" for k in lags)], body), ""]
        reads = sorted(
            {r["variant"] for r in mine if r["variant"].startswith(("helm-attention", "helm-window"))}
        )
        for k in lags:
            lstm = [
                r["final_return"]
                for r in mine
                if (r["agent"], r["variant"]) == ("lstm", "") and r["lag"] == k
            ]
            for name in reads:
                read = [r["final_return"] for r in mine if r["variant"] == name and r["lag"] == k]
                if not (read and lstm):
                    continue
                a, b = (iqm_ci(np.array(v))[0] for v in (read, lstm))  # the IQM from 4 seeds, else the mean
                gap = a - b
                verdict = "above" if gap > 0 else ("within 0.05" if gap >= -0.05 else f"below by {-gap:.3f}")
                out.append(
                    f"- lag {k}: {name} {a:.3f} (n = {len(read)}) against the LSTM's "
                    f"{b:.3f} (n = {len(lstm)}): {verdict}"
                )
        out.append("")
    return "\n".join(out)


def probe_rows(rows: list[dict], probe_csv: Path) -> list[dict]:
    """A row per lag the probe measured: the probe's accuracy at the last and at the best layer,
    the return a readout of that accuracy earns (2a − 1), and each agent's mean one-hot return."""
    with open(probe_csv, newline="") as fh:
        probe = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(fh)]
    last = max(int(r["layer"]) for r in probe)
    agents = sorted({(r["agent"], r["variant"]) for r in rows if r["obs"] == "onehot"})
    out = []
    for lag in sorted({int(r["lag"]) for r in probe if r["lag"] > 0}):
        at = {int(r["layer"]): r["accuracy"] for r in probe if int(r["lag"]) == lag}
        best = max(at, key=lambda k: (at[k], -k))
        row = {
            "lag": lag,
            "probe_last_layer": round(at[last], 4),
            "predicted_return_last": round(2 * at[last] - 1, 4),
            "best_layer": best,
            "probe_best_layer": round(at[best], 4),
            "predicted_return_best": round(2 * at[best] - 1, 4),
        }
        for agent, variant in agents:
            mine = [r["final_return"] for r in rows if r["obs"] == "onehot" and r["lag"] == lag
                    and (r["agent"], r["variant"]) == (agent, variant)]  # fmt: skip
            row[f"return_{label(agent, variant)}"] = round(float(np.mean(mine)), 4) if mine else ""
        out.append(row)
    return out


BIAS_COLUMNS = [
    "variant",
    "env",
    "lag",
    "seed",
    "gain",
    "update",
    "bias_at_lag",
    "gap",
    "bias_weight",
    "top_offsets",
]


def bias_rows(runs: Path) -> list[dict]:
    """A row per attention-read cell under ``runs/recall-lags`` with a checkpoint."""
    import torch

    from helmrl.config import TrainConfig

    rows = []
    for run in sorted((runs / GROUP).glob("LagRecall-*")):
        if not (run / "checkpoint.pt").exists() or not (run / "config.json").exists():
            continue
        cfg = TrainConfig.load(run / "config.json")
        match = ENV.fullmatch(cfg.env_id)
        if cfg.net.history_read != "attention" or match is None:
            continue
        ck = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=False)
        bias = cfg.net.read_offset_gain * ck["agent"]["read.offset_bias"].double()
        lag = int(match.group(1))
        others = torch.cat([bias[:lag], bias[lag + 1 :]])
        top = ", ".join(
            f"{int(i)}: {float(bias[i]):.2f}" for i in bias.sort(descending=True, stable=True).indices[:3]
        )
        rows.append(
            {
                "variant": cfg.label, "env": cfg.env_id, "lag": lag, "seed": cfg.seed,
                "gain": cfg.net.read_offset_gain, "update": ck["update"],
                "bias_at_lag": round(float(bias[lag]), 3), "gap": round(float(bias[lag] - others.max()), 3),
                "bias_weight": round(float(torch.softmax(bias, 0)[lag]), 4),
                "top_offsets": top,
            }
        )  # fmt: skip
    return rows


def merged_bias_rows(path: Path, fresh: list[dict]) -> list[dict]:
    """``fresh`` over the rows already at ``path``: a cell (variant, env, seed) measured now replaces
    its old row; the others stay (their checkpoints may be gone)."""

    def key(r: dict) -> tuple[str, str, int]:
        return str(r["variant"]), str(r["env"]), int(r["seed"])

    rows = {}
    if path.exists():
        with open(path, newline="") as fh:
            rows = {key(r): r for r in csv.DictReader(fh)}
    kept = len(set(rows) - {key(r) for r in fresh})
    rows.update({key(r): r for r in fresh})
    if kept:
        print(f"kept {kept} rows of {path.name} whose checkpoints are not here")
    return sorted(rows.values(), key=lambda r: (int(r["lag"]), str(r["variant"]), int(r["seed"])))


def helm_agreement(table: list[dict]) -> str:
    """Spearman's ρ over lags between the last layer's predicted return and HELM's return."""
    from scipy.stats import spearmanr

    pairs = [(r["predicted_return_last"], r["return_helm"]) for r in table if r.get("return_helm", "") != ""]
    if len(pairs) < 3:
        return f"HELM has one-hot returns at {len(pairs)} of the probe's lags: no correlation yet"
    rho, p = spearmanr(*zip(*pairs, strict=True))
    what = f"Spearman's rho over {len(pairs)} lags, last layer's predicted return vs HELM's"
    return f"{what}: {rho:.2f} (p = {p:.3f})"


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
    ap.add_argument(
        "--probe",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "memory_probe_synthetic.csv",
        help="a probe CSV of `helmrl analyze memory` (layer, lag, accuracy) to set beside the returns",
    )
    ap.add_argument(
        "--biases",
        type=Path,
        default=None,
        help="a sweep output folder with the cells' checkpoints: write recall-lags-bias.csv (default: off)",
    )
    args = ap.parse_args()
    if args.biases is not None:
        fresh = bias_rows(args.biases)
        write(
            args.out / "recall-lags-bias.csv",
            merged_bias_rows(args.out / "recall-lags-bias.csv", fresh),
            BIAS_COLUMNS,
        )
        for r in fresh:
            print("  ".join(f"{k}={v}" for k, v in r.items()))
    rows = rows_of(args.cells)
    write(args.out / "recall-lags.csv", rows, COLUMNS)
    if rows:
        print(f"wrote {plot(rows, args.out / 'recall-lags.png')}")
        tables = lag_tables(rows)
        (args.out / "recall-lags-table.md").write_text(tables)
        print(tables)
    else:
        print(f"no finished cell under {args.cells / GROUP}: recall-lags.csv has its header only")
    if args.probe.exists():
        table = probe_rows(rows, args.probe)
        columns = list(dict.fromkeys(k for r in table for k in r))
        write(args.out / "recall-lags-probe.csv", table, columns)
        for r in table:
            print("  ".join(f"{k}={v}" for k, v in r.items()))
        print(helm_agreement(table))


if __name__ == "__main__":
    main()
