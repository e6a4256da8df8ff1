"""HELM's seeds one at a time against the same seeds as one group sharing the LM, side by side.

    .venv/bin/python benchmarks/seed_batch.py [--preset randommaze] [--seeds 5] [--updates 4]

Each round runs, in turn (the order alternates between rounds), the two ways of training the same
seeds for the same steps:

* ``singles``: ``helmrl train --seed s`` for each seed, one after another, each with every core;
* ``group``: ``helmrl train --seeds 0,…,N-1``: a process per seed (one torch thread each) and
  one LM process (every core) stepping the LM once for all N·16 envs (``helmrl.seed_group``).

Two aggregate env-steps/s figures per variant: ``wall`` (all steps over the wall time of the
whole variant, start-up included) and ``steady`` (the steps after each run's first update over
the time they took, from metrics.csv's ``time_s``: what a 2M-step run sees). The ratio group /
singles is each round's, and the medians over rounds are reported. Rows go to
benchmarks/results/seed_batch.csv (the harness's schema, with the CPU and its flags). Run it on a
quiet machine: pause other jobs (``kill -STOP``) while it runs.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import RESULTS, check_out, host, median, row, write_rows

from helmrl.config import preset

HELMRL = [sys.executable, "-m", "helmrl.cli"]


def steady(run_dir: Path) -> tuple[int, float]:
    """(env steps after the first update, seconds they took) from a run's metrics.csv."""
    with open(run_dir / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return int(rows[-1]["step"]) - int(rows[0]["step"]), float(rows[-1]["time_s"]) - float(rows[0]["time_s"])


def run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--preset", default="randommaze", help="HELM's preset (its env, memory, rollout)")
    ap.add_argument("--seeds", type=int, default=5, help="seeds in the group")
    ap.add_argument("--updates", type=int, default=4, help="PPO updates per seed")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of both variants")
    ap.add_argument(
        "--set", nargs="*", default=[], metavar="FLAG=VALUE", help="more train flags, e.g. mem-len=512"
    )
    ap.add_argument("--out", type=Path, default=RESULTS / "seed_batch.csv", help="CSV of the rows")
    args = ap.parse_args()
    if args.seeds < 1 or args.updates < 2 or args.rounds < 1:
        ap.error("need --seeds >= 1, --updates >= 2 (the first update is start-up) and --rounds >= 1")
    check_out(args.out)
    cfg = preset(args.preset, "helm")
    steps = cfg.batch_size * args.updates
    extra = [f"--{kv.split('=', 1)[0]}={kv.split('=', 1)[1]}" for kv in args.set]
    common = [
        *HELMRL,
        "train",
        "--preset",
        args.preset,
        "--agent",
        "helm",
        "--total-steps",
        str(steps),
        "--no-progress",
        "--overwrite",
        *extra,
    ]
    case = f"{args.preset} {args.seeds} seeds x {steps} steps" + (
        f" ({' '.join(args.set)})" if args.set else ""
    )
    cores = os.cpu_count() or 1
    results: dict[str, dict[str, list[float]]] = {v: {"wall": [], "steady": []} for v in ("singles", "group")}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = ("singles", "group") if r % 2 == 0 else ("group", "singles")
            for variant in order:
                base = Path(tmp) / f"{variant}-{r}"
                if variant == "singles":
                    dirs = [base / f"s{s}" for s in range(args.seeds)]
                    wall = sum(
                        run([*common, "--seed", str(s), "--torch-threads", str(cores), "--run-dir", str(d)])
                        for s, d in enumerate(dirs)
                    )
                    n, secs = (sum(x) for x in zip(*(steady(d) for d in dirs), strict=True))
                else:
                    seeds = ",".join(map(str, range(args.seeds)))
                    wall = run([*common, "--seeds", seeds, "--run-dir", str(base)])
                    parts = [steady(base / f"s{s}") for s in range(args.seeds)]
                    n, secs = sum(p[0] for p in parts), max(p[1] for p in parts)  # lock-step members
                results[variant]["wall"].append(args.seeds * steps / wall)
                results[variant]["steady"].append(n / secs)
                print(
                    f"round {r} {variant}: {args.seeds * steps / wall:.0f} env-steps/s wall, "
                    f"{n / secs:.0f} steady",
                    flush=True,
                )
    out = []
    for metric in ("wall", "steady"):
        for variant in ("singles", "group"):
            out.append(
                row(
                    "seed_batch",
                    case,
                    variant,
                    f"{metric} env-steps/s",
                    median(results[variant][metric]),
                    "env-steps/s",
                )
            )
        ratios = [g / s for g, s in zip(results["group"][metric], results["singles"][metric], strict=True)]
        out.append(row("seed_batch", case, "group / singles", f"{metric} ratio", median(ratios), "x"))
    write_rows(args.out, out)
    h = host()
    print(f"{h['cpu']} ({h['isa']}), {cores} cores, torch {h['torch']}: {case}")
    for r_ in out:
        print(f"  {r_['variant']:>16} {r_['metric']:<22} {r_['value']:.2f} {r_['unit']}")


if __name__ == "__main__":
    main()
