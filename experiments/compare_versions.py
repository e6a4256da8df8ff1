"""Does another commit of helmrl train the same run as this checkout, update for update?

Runs one short `helmrl train` from a git worktree of COMMIT (with this checkout's virtualenv,
its ``src`` first on PYTHONPATH) and the same command from this checkout, on this machine, one
after the other at one torch thread, then compares their ``metrics.csv`` column by column (all but
``fps`` and ``time_s``). Same host, same kernels: any difference is the code's. It prints the
first update where they differ, or that every row is identical.

    .venv/bin/python experiments/compare_versions.py 7e32f63 -- --preset keycorridor --agent cnn \\
        --seed 1 --n-envs 16 --lr 3e-4 --rollout-steps 32 --ent-coef 0.05

The arguments after ``--`` go to both `helmrl train` calls, which must accept them; ``--total-steps``
(``--steps``), ``--torch-threads 1``, ``--run-dir`` and ``--no-progress`` are added.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IGNORED = {"fps", "time_s"}  # wall-clock columns


def train(src: Path, cwd: Path, run_dir: Path, args: list[str]) -> list[dict[str, str]]:
    env = dict(os.environ, PYTHONPATH=str(src), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "helmrl.cli", "train", *args, "--run-dir", str(run_dir), "--no-progress"]
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise SystemExit(f"error: helmrl train from {src} failed: {tail[0]}")
    with open(run_dir / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def first_difference(a: list[dict[str, str]], b: list[dict[str, str]]) -> str | None:
    """The first row where the runs differ (a column or the row count), or None."""
    for ra, rb in zip(a, b, strict=False):  # a shorter run is reported below
        cols = sorted(k for k in set(ra) | set(rb) if k not in IGNORED and ra.get(k) != rb.get(k))
        if cols:
            return f"update {ra.get('update')}: " + ", ".join(f"{k} {ra.get(k)} vs {rb.get(k)}" for k in cols)
    if len(a) != len(b):
        return f"row count: {len(a)} vs {len(b)}"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="after --: the options of helmrl train, passed to both runs",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("commit", help="the other commit (any git revision)")
    parser.add_argument("--steps", type=int, default=15360, help="--total-steps of both runs")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:cut])  # what follows -- is helmrl train's
    train_args = [*argv[cut + 1 :], "--total-steps", str(args.steps), "--torch-threads", "1"]
    with tempfile.TemporaryDirectory(prefix="helmrl-versions-") as tmp:
        tree = Path(tmp) / "tree"
        add = ["git", "worktree", "add", "--detach", "-q", str(tree), args.commit]
        added = subprocess.run(add, cwd=ROOT, capture_output=True, text=True)
        if added.returncode != 0:
            raise SystemExit(f"error: no worktree of {args.commit}: {added.stderr.strip().splitlines()[-1]}")
        try:
            other = train(tree / "src", tree, Path(tmp) / "other", train_args)
            here = train(ROOT / "src", ROOT, Path(tmp) / "here", train_args)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
    diff = first_difference(other, here)
    label = f"{args.commit} vs this checkout, {len(here)} updates"
    verdict = "identical in every column but fps and time_s" if diff is None else f"differ at {diff}"
    print(f"{label}: {verdict}")


if __name__ == "__main__":
    main()
