"""Collect the finished cells of the evidence sweeps into benchmarks/results/.

    .venv/bin/python experiments/collect_learning.py [--prefix learning] [SPEC:OUT ...]

Default: benchmarks/sweeps/keycorridor.toml with sweeps/keycorridor and randommaze.toml with
sweeps/randommaze. Writes learning.csv (one row per finished cell: env, agent, seed, steps,
final_return, wall_s, fps), learning_iqm.csv, learning_tests.csv and learning.png, prints the
IQM table and the Wilcoxon tests, and keeps each finished cell's config, metrics and wall time in
benchmarks/results/cells/<sweep>/ (copy that folder to the sweep's OUT and the sweep skips those
cells). Outside peers (experiments/learning.py's `*-sb3-recurrentppo-s*` cells in OUT) join them
once they reach the sweep's steps. Cells still running are left out (re-run when they finish).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from helmrl.sweep import SweepSpec, format_summary, summary_row, write_summary
from helmrl.sweep.runner import is_done

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SWEEPS = ROOT / "benchmarks" / "sweeps"
DEFAULT = [
    f"{SWEEPS}/keycorridor.toml:sweeps/keycorridor",
    f"{SWEEPS}/randommaze.toml:sweeps/randommaze",
]


def main(pairs: list[str], prefix: str = "learning") -> int:
    rows = []
    for pair in pairs:
        spec_path, out = pair.split(":", 1)
        spec = SweepSpec.load(Path(spec_path))
        done = [c for c in spec.cells() if is_done(Path(out) / c.name, c.config)]
        print(f"{spec.name}: {len(done)} of {len(spec.cells())} cells finished")
        rows += [summary_row(Path(out) / c.name) for c in done]
        keep = RESULTS / "cells" / spec.name  # the light files of finished cells, committed
        copy = Path(out).resolve() != keep.resolve()  # OUT may be the committed record itself
        for c in done if copy else []:
            (keep / c.name).mkdir(parents=True, exist_ok=True)
            for f in ("config.json", "metrics.csv", "cell.json", "attempts.log"):
                if (Path(out) / c.name / f).exists():
                    shutil.copy(Path(out) / c.name / f, keep / c.name / f)
        for peer in sorted(Path(out).glob("*-sb3-recurrentppo-s*")):  # experiments/learning.py
            row = summary_row(peer)
            if row["steps"] >= spec.total_steps:
                rows.append(row)
                print(f"  + outside peer {peer.name}")
                (keep / peer.name).mkdir(parents=True, exist_ok=True)
                for f in ("config.json", "metrics.csv", "cell.json") if copy else ():
                    shutil.copy(peer / f, keep / peer.name / f)
    if not rows:
        print("no finished cell yet")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        result = write_summary(rows, Path(tmp))
        suffixes = {
            "summary.csv": ".csv",
            "iqm.csv": "_iqm.csv",
            "tests.csv": "_tests.csv",
            "curves.png": ".png",
        }
        names = {src: f"{prefix}{suffix}" for src, suffix in suffixes.items()}
        for src, dst in names.items():
            if (Path(tmp) / src).exists():
                shutil.copy(Path(tmp) / src, RESULTS / dst)
        result["png"] = RESULTS / f"{prefix}.png"
        print(format_summary(result))
    return 0


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("pairs", nargs="*", default=DEFAULT, help="SPEC.toml:OUT pairs")
    ap.add_argument("--prefix", default="learning", help="file names in benchmarks/results/")
    args = ap.parse_args()
    sys.exit(main(args.pairs or DEFAULT, args.prefix))
