"""Levers on the non-GEMM half of the CPU LM step, timed side by side with today's eager step.

    .venv/bin/python benchmarks/lm_step_levers.py [--n-envs 16] [--threads 2] [--repeats 30]

At 16 envs the four GEMMs of a layer reach ~64% of the large-GEMM rate alone
(benchmarks/throughput.py), yet the whole step only ~29%: some 2,000 small aten calls a step
(attention, norms, rotary, dtype conversions) take about half of it. Variants (public switches
of helmrl.frozen.lm_memory.FastDecoderMemory):
- `eager`: today's step;
- `eager-untrimmed`: today's step over every slot (``trim_unused_slots = False``), the shapes the
  compiled variants run at;
- `sdpa`: ``fused_attention = True``, torch's fused scaled_dot_product_attention for the
  one-query attention (five ops a layer become one);
- `compiled`: ``compile_step(memory)`` (benchmarks/compiled_step.py): inductor cannot lower the
  oneDNN pre-packed linears, so they stay eager and everything between them is compiled (RMS
  norms, rotary, the one-query attention, SiLU·up, residual adds, ~20 small ops a layer);
- `frozen`: ``prepack=False`` and ``compile_step(memory, freeze_weights=True)``: plain weights as
  buffers and inductor's `freezing` on, so inductor owns the whole step, GEMMs included, and
  may pack the weights itself.
Records each variant's first call (it compiles), its agreement with eager over 40 steps, and
its step time (the harness's timer: interleaved medians, every timed step from the same memory
state after those 40 steps). Rows (the harness's schema) are appended to
benchmarks/results/lm_step_levers.csv; results/lm_step_levers-cpu.txt is an earlier run's printout.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from compiled_step import compile_step
from harness import RESULTS, check_out, host, median, row, time_interleaved, write_rows

from helmrl.frozen.language_model import load_language_model
from helmrl.frozen.lm_memory import FastDecoderMemory, make_lm_memory
from helmrl.frozen.precision import resolve_frozen_dtype

BENCH = "lm_step_levers"
VARIANTS = ("eager", "eager-untrimmed", "sdpa", "compiled", "frozen")
STEPS = 40  # the agreement check's episode; the timed step is the next one


def build(
    variant: str, model: torch.nn.Module, n: int, mem_len: int, dtype: torch.dtype
) -> FastDecoderMemory:
    mem = make_lm_memory(model, n, mem_len, 4, dtype, implementation="fast", prepack=variant != "frozen")
    if variant == "eager-untrimmed":
        mem.trim_unused_slots = False
    elif variant == "sdpa":
        mem.fused_attention = True
    elif variant == "compiled":
        compile_step(mem)
    elif variant == "frozen":
        compile_step(mem, freeze_weights=True)
    return mem


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--n-envs", type=int, default=16, help="envs in the LM step")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--repeats", type=int, default=30, help="timed steps per variant")
    ap.add_argument("--mem-len", type=int, default=64, help="the memory's slots")
    ap.add_argument("--lm", default="smollm2-135m", help="smollm2-135m, random-init or a folder")
    ap.add_argument(
        "--variants",
        nargs="+",
        default=list(VARIANTS),
        choices=VARIANTS,
        help="eager is always run (the reference)",
    )
    ap.add_argument("--out", type=Path, default=RESULTS / "lm_step_levers.csv", help="CSV to append to")
    args = ap.parse_args()
    check_out(args.out)
    torch.set_num_threads(args.threads)
    model = load_language_model(args.lm).model
    dtype = resolve_frozen_dtype("auto", "cpu")
    n = args.n_envs
    variants = ["eager", *(v for v in args.variants if v != "eager")]  # eager: the reference
    mems = {v: build(v, model, n, args.mem_len, dtype) for v in variants}
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(n, model.config.hidden_size, generator=g) for _ in range(STEPS)]
    starts = [torch.zeros(n, dtype=torch.bool) for _ in range(STEPS)]
    starts[0][:] = True
    go = starts[1]
    print(f"host: {host()}; LM weights {dtype}; {n} envs", flush=True)
    case = f"lm={args.lm} n_envs={n} mem_len={args.mem_len}"
    rows, outs = [], {}
    for k, mem in mems.items():
        mem.reset()
        t = time.perf_counter()
        outs[k] = [mem(xs[0], starts[0])]
        first = time.perf_counter() - t
        rows.append(row(BENCH, case, k, "first_call_s", round(first, 3), "s"))
        print(f"{k:15s} first step (compiles): {first:.1f} s", flush=True)
        outs[k] += [mem(x, s) for x, s in zip(xs[1:], starts[1:], strict=True)]
    ref = torch.stack(outs["eager"])
    for k in variants[1:]:
        rel = (ref - torch.stack(outs[k])).norm(dim=-1) / ref.norm(dim=-1)
        rows.append(row(BENCH, case, k, "rel_diff_vs_eager_median", float(f"{rel.median():.3e}"), "1"))
        rows.append(row(BENCH, case, k, "rel_diff_vs_eager_max", float(f"{rel.max():.3e}"), "1"))
        print(
            f"{k:15s} vs eager, {STEPS} steps: relative difference median {rel.median():.2e}, "
            f"max {rel.max():.2e}"
        )
    saved = {k: mem.snapshot_step(go) for k, mem in mems.items()}
    x = xs[0]
    times = time_interleaved(
        {k: (lambda mem=mem: mem(x, go)) for k, mem in mems.items()},
        reps=args.repeats,
        before=lambda k: mems[k].restore_step(saved[k]),
    )
    base = median(times["eager"])
    for k, ts in times.items():
        med = median(ts)
        rows.append(row(BENCH, case, k, "step_ms", round(med * 1e3, 3), "ms"))
        rows.append(row(BENCH, case, k, "env_steps_per_s", round(n / med, 1), "steps/s"))
        rows.append(row(BENCH, case, k, "speedup_vs_eager", round(base / med, 3), "x"))
        print(f"{k:15s} {med * 1e3:7.2f} ms/step  {n / med:6.0f} env-steps/s  {base / med:4.2f}x eager")
    write_rows(args.out, rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
