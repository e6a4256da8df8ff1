"""Whole-process wall time of the Makefile's user-facing targets, and what the demo learned.

    .venv/bin/python benchmarks/make_targets.py [--targets demo test-fast] [--reps 1]

What a new user waits for on this machine: `make demo` (HELM and CNN-PPO on the demo preset,
then the plot) and `make test-fast`, each run as a child process from the repository root with
the environment as given (so an ISA cap, e.g. ``ATEN_CPU_CAPABILITY=avx2``, applies to it).
``install`` runs once first, untimed, so its no-op check is not counted. Rows (the harness's
schema, benchmarks/harness.py) are appended to benchmarks/results/make_targets.csv: each target's
wall seconds and exit status, and for `demo` each agent's final return (mean of the last logged
episodes, from ``runs/demo-*/metrics.csv``); the variant column holds the commit. Time it on a
quiet machine: a busy core slows the demo about threefold (docs/performance.md).
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import time
from pathlib import Path

from harness import RESULTS, check_out, median, row, write_rows

BENCH = "make_targets"
ROOT = Path(__file__).resolve().parent.parent


def final_return(metrics: Path) -> float:
    with open(metrics, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise SystemExit(f"{metrics} has no rows")
    return float(rows[-1]["episode_return_mean"])


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--targets", nargs="+", default=["demo", "test-fast"], help="Makefile targets to time")
    ap.add_argument("--reps", type=int, default=1, help="runs of each target (the median is reported)")
    ap.add_argument("--out", type=Path, default=RESULTS / "make_targets.csv", help="CSV to append to")
    args = ap.parse_args()
    check_out(args.out)
    commit = (
        subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        or "unknown"
    )
    subprocess.run(["make", "install"], cwd=ROOT, check=True, capture_output=True)
    rows = []
    for target in args.targets:
        walls, rcs = [], []
        for _ in range(args.reps):
            t = time.perf_counter()
            done = subprocess.run(["make", target], cwd=ROOT, capture_output=True, text=True)
            walls.append(time.perf_counter() - t)
            rcs.append(done.returncode)
            if done.returncode != 0:
                print(done.stdout[-2000:], done.stderr[-2000:])
        rows.append(row(BENCH, target, commit, "wall_s", round(median(walls), 1), "s"))
        rows.append(row(BENCH, target, commit, "exit_status", max(rcs), ""))
        print(f"make {target}: {median(walls):.1f} s (median of {len(walls)}), exit {max(rcs)}")
        if target == "demo" and max(rcs) == 0:
            for agent in ("helm", "cnn"):
                ret = final_return(ROOT / "runs" / f"demo-{agent}" / "metrics.csv")
                rows.append(row(BENCH, target, commit, f"final_return_{agent}", round(ret, 3), "return"))
                print(f"  {agent}: final return {ret:.3f}")
    write_rows(args.out, rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
