"""How far the learning tests' runs spread across hosts: the exact configs of
tests/test_memory_task.py over more seeds, under the current process's kernels and threads.

Run it once per condition and compare (each line is one condition's CSV rows):

    .venv/bin/python experiments/learning_test_spread.py --threads 1 --out a.csv
    .venv/bin/python experiments/learning_test_spread.py --threads 2 --out b.csv
    MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 \\
        .venv/bin/python experiments/learning_test_spread.py --threads 1 --out c.csv
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))  # the tests package, for the exact configs
from tests.test_memory_task import CNN_UPDATES, LEARNS, final_return, learning_check_config  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", nargs="+", type=int, default=list(range(6)), help="(default: 0-5)")
    ap.add_argument("--agents", nargs="+", default=["helm", "lstm", "cnn"], help="(default: helm lstm cnn)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    ap.add_argument("--out", type=Path, required=True, help="CSV to append to (required: no default)")
    args = ap.parse_args()
    caps = " ".join(
        f"{k}={os.environ[k]}"
        for k in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS")
        if k in os.environ
    )
    import torch

    from helmrl.devices import describe_device

    host = describe_device(torch.device("cpu"))
    new = not args.out.exists()
    with open(args.out, "a", newline="") as fh:
        w = csv.writer(fh)
        if new:
            w.writerow(["agent", "seed", "updates", "threads", "kernel_caps", "host", "final_return"])
        for agent in args.agents:
            updates = LEARNS[agent][0] if agent in LEARNS else CNN_UPDATES
            for seed in args.seeds:
                cfg = learning_check_config(agent, seed, updates).replace(torch_threads=args.threads)
                with tempfile.TemporaryDirectory() as d:
                    r = final_return(cfg, Path(d))
                w.writerow([agent, seed, updates, args.threads, caps or "none", host, round(r, 4)])
                fh.flush()
                print(agent, seed, round(r, 4), flush=True)


if __name__ == "__main__":
    main()
