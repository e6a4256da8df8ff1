"""The demo's claim, over seeds: HELM learns CueRecall-v0 and stays up, CNN-PPO stays at chance.

For each agent and seed, trains ``--preset demo`` and reports the final return (the mean of the
last ``log_window`` episodes), the env step at which the logged curve first reached 0.95, and the lowest
logged return after that (a collapse shows there). Writes one CSV row per run.

    .venv/bin/python experiments/demo_seeds.py --seeds 0 1 2 3 4 --out benchmarks/results/demo_seeds.csv
    .venv/bin/python experiments/demo_seeds.py --from benchmarks/results/demo_seeds.csv  # summary only

Ends with each agent's IQM of the final returns and its 95% stratified-bootstrap CI (rliable,
``helmrl.analysis.statistics.iqm_with_ci``), over the runs it trained or the CSV rows it read.
"""

from __future__ import annotations

import argparse
import csv
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from helmrl.config import parse_override, preset
from helmrl.ppo.metrics import read_metrics
from helmrl.ppo.trainer import Trainer


def run(agent: str, seed: int, threads: int, overrides: dict) -> dict:
    cfg = preset("demo", agent).replace(seed=seed, torch_threads=threads, **overrides).validate()
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        trainer = Trainer.from_config(cfg, Path(d), progress=False, log=lambda *_: None)
        trainer.train()
        wall = time.perf_counter() - t0
        curve = curve_summary(read_metrics(Path(d)))
    return {
        "env": cfg.env_id,
        "agent": agent,
        "seed": seed,
        "steps": curve["steps"],
        "final_return": round(float(np.mean(trainer.episodes.returns)), 4),
        "first_step_at_0.95": curve["first_step"],
        "min_after_0.95": curve["min_after"],
        "wall_s": round(wall, 1),
    }


def curve_summary(rows: list[dict[str, float]], level: float = 0.95) -> dict:
    """From metrics rows (``read_metrics``; NaN return where no episode had finished yet): the steps
    trained (the last row's step), the step of the first row whose return reached ``level`` (-1:
    never) and the lowest return logged from that row on ("" when it never did)."""
    logged = [(r["step"], r["episode_return_mean"]) for r in rows if not math.isnan(r["episode_return_mean"])]
    first = next((i for i, (_, ret) in enumerate(logged) if ret >= level), None)
    return {
        "steps": int(rows[-1]["step"]) if rows else 0,
        "first_step": -1 if first is None else int(logged[first][0]),
        "min_after": "" if first is None else round(min(ret for _, ret in logged[first:]), 4),
    }


def summarize(rows: list[dict]) -> list[str]:
    """One line per agent: IQM [95% CI] of the final returns over its seeds."""
    from helmrl.analysis.statistics import iqm_with_ci

    lines = []
    for agent in dict.fromkeys(r["agent"] for r in rows):
        finals = np.array([float(r["final_return"]) for r in rows if r["agent"] == agent])
        mid, lo, hi = iqm_with_ci(finals)
        lines.append(f"{agent}: IQM {mid:.2f} [{lo:.2f}, {hi:.2f}] over {len(finals)} seeds")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", nargs="+", default=["helm", "cnn"], help="(default: helm cnn)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4], help="(default: 0 1 2 3 4)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (default: 1)")
    ap.add_argument(
        "--set", nargs="*", default=[], metavar="FIELD=VALUE", help="config overrides (default: none)"
    )
    ap.add_argument("--out", type=Path, default=None, help="CSV to write (default: print only)")
    ap.add_argument(
        "--from",
        dest="read",
        type=Path,
        nargs="+",
        default=None,
        metavar="CSV",
        help="summarize these CSVs of earlier runs instead of training (default: train)",
    )
    args = ap.parse_args()
    if args.read:
        rows = []
        for path in args.read:
            if not path.is_file():
                raise SystemExit(f"error: {path}: no such CSV")
            with open(path, newline="") as fh:
                rows += list(csv.DictReader(fh))
        print("\n".join(summarize(rows)))
        return
    overrides = dict(parse_override(kv) for kv in args.set)
    rows = []
    for agent in args.agents:
        for seed in args.seeds:
            rows.append(run(agent, seed, args.threads, overrides))
            print(rows[-1], flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    print("\n".join(summarize(rows)))


if __name__ == "__main__":
    main()
