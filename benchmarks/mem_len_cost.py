"""What a longer LM memory costs per step: SmolLM2's streaming step with a full window of
``mem_len`` slots, for several windows side by side in one process (interleaved, medians).

    .venv/bin/python benchmarks/mem_len_cost.py [--n-envs 16] [--mem-lens 64 512] [--reps 30]

The authors' TrXL kept 511 steps; helmrl's KeyCorridor preset gives HELM 512 slots (a whole
episode), the default elsewhere is 64. Each window is filled first, and every timed step starts
from that full window (the harness's timer, benchmarks/harness.py), so it attends over all of it.
Prints ms per step, env-steps/s and the ratio to the first window, with the host; rows (the
harness's schema) are appended to benchmarks/results/mem_len_cost.csv.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from harness import RESULTS, check_out, host, median, row, time_full_windows, write_rows

from helmrl.frozen.language_model import load_language_model
from helmrl.frozen.lm_memory import make_lm_memory
from helmrl.frozen.precision import resolve_frozen_dtype

BENCH = "mem_len_cost"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--n-envs", type=int, default=16, help="envs in the LM step")
    ap.add_argument(
        "--mem-lens", type=int, nargs="+", default=[64, 512], help="windows; ratios are to the first"
    )
    ap.add_argument("--reps", type=int, default=30, help="timed steps per window")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--lm", default="smollm2-135m", help="smollm2-135m, random-init or a folder")
    ap.add_argument("--out", type=Path, default=RESULTS / "mem_len_cost.csv", help="CSV to append to")
    args = ap.parse_args()
    check_out(args.out)
    if args.threads:
        torch.set_num_threads(args.threads)
    lm = load_language_model(args.lm)
    dtype = resolve_frozen_dtype("auto", torch.device("cpu"))
    n, width = args.n_envs, lm.model.config.hidden_size
    mems = {m: make_lm_memory(lm.model, n, m, 4, dtype) for m in dict.fromkeys(args.mem_lens)}
    x = torch.randn(n, width) * lm.token_embeddings.float().std()
    times = time_full_windows(mems, x, {m: m for m in mems}, args.reps)  # each step attends a full window
    base = median(times[str(args.mem_lens[0])])
    print(f"host: {host()}, {dtype}, {n} envs")
    case, rows = f"lm={args.lm} n_envs={n}", []
    for m in mems:
        med = median(times[str(m)])
        variant = f"mem_len={m}"
        rows += [
            row(BENCH, case, variant, "step_ms", round(med * 1e3, 3), "ms"),
            row(BENCH, case, variant, "env_steps_per_s", round(n / med, 1), "steps/s"),
            row(BENCH, case, variant, f"time_over_mem_len={args.mem_lens[0]}", round(med / base, 3), "x"),
        ]
        print(f"mem_len {m:5d}: {med * 1e3:7.1f} ms/step  {n / med:7.1f} env-steps/s  {med / base:5.2f}x")
    write_rows(args.out, rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
