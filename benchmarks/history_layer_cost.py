"""What ``--history-layer k`` saves per step: SmolLM2's streaming step when the history is the
state after layer k, so the memory runs k of its 30 layers, for several k side by side in one
process (interleaved, medians).

    .venv/bin/python benchmarks/history_layer_cost.py [--n-envs 16] [--layers 30 15 8 4 2] [--mem-len 128]

Each memory's window is filled first (``--mem-len`` slots; RandomMaze's preset holds 128), and
every timed step starts from that full window (the harness's timer). Prints ms per step,
env-steps/s and each k's time over the first k's, with the host; rows (the harness's schema) are
appended to benchmarks/results/history_layer_cost.csv. What each layer keeps of the past (the
other side of the trade) is the memory study's probe (docs/reports/memory-study.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from harness import RESULTS, check_out, host, median, row, time_full_windows, write_rows

from helmrl.frozen.language_model import load_language_model
from helmrl.frozen.lm_memory import make_lm_memory
from helmrl.frozen.precision import resolve_frozen_dtype

BENCH = "history_layer_cost"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--n-envs", type=int, default=16, help="envs in the LM step")
    ap.add_argument(
        "--layers", type=int, nargs="+", default=[30, 15, 8, 4, 2], help="k; ratios are to the first"
    )
    ap.add_argument("--mem-len", type=int, default=128, help="memory slots, filled before timing")
    ap.add_argument("--reps", type=int, default=30, help="timed steps per k")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--lm", default="smollm2-135m", help="smollm2-135m, random-init or a folder")
    ap.add_argument("--out", type=Path, default=RESULTS / "history_layer_cost.csv", help="CSV to append to")
    args = ap.parse_args()
    check_out(args.out)
    if args.threads:
        torch.set_num_threads(args.threads)
    lm = load_language_model(args.lm)
    dtype = resolve_frozen_dtype("auto", torch.device("cpu"))
    n, m, width = args.n_envs, args.mem_len, lm.model.config.hidden_size
    mems = {k: make_lm_memory(lm.model, n, m, 4, dtype, layers=(k,)) for k in dict.fromkeys(args.layers)}
    x = torch.randn(n, width) * lm.token_embeddings.float().std()
    times = time_full_windows(mems, x, {k: m for k in mems}, args.reps)  # each step attends a full window
    base = median(times[str(args.layers[0])])
    print(f"host: {host()}, {dtype}, {n} envs, {m} slots")
    case, rows = f"lm={args.lm} n_envs={n} mem_len={m}", []
    for k in mems:
        med = median(times[str(k)])
        variant = f"history_layer={k}"
        rows += [
            row(BENCH, case, variant, "step_ms", round(med * 1e3, 3), "ms"),
            row(BENCH, case, variant, "env_steps_per_s", round(n / med, 1), "steps/s"),
            row(BENCH, case, variant, f"time_over_history_layer={args.layers[0]}", round(med / base, 3), "x"),
        ]
        print(f"layer {k:3d}: {med * 1e3:7.1f} ms/step  {n / med:7.1f} env-steps/s  {med / base:5.2f}x")
    write_rows(args.out, rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
