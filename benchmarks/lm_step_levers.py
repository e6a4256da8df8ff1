"""Levers on the non-GEMM half of the CPU LM step, timed side by side with today's eager step.

    .venv/bin/python benchmarks/lm_step_levers.py [--n-envs 16] [--threads 2]

At 16 envs the four GEMMs of a layer reach ~64% of the large-GEMM rate alone
(benchmarks/throughput.py), yet the whole step only ~29%: some 2,000 small aten calls a step (attention,
norms, rotary, dtype conversions) take about half of it. Variants:
- `sdpa`: torch's fused scaled_dot_product_attention for the one-query attention (five ops a
  layer become one);

Inductor cannot lower the oneDNN pre-packed linears the fast memory uses (it requires packed
weights to be frozen graph constants), so two compiled variants:
- `compiled`: the packed GEMMs stay eager (`torch._dynamo.disable`) and everything between them
  is compiled: RMS norms, rotary, the one-query attention, SiLU·up, residual adds, ~20 small
  ops a layer;
- `frozen`: plain (unpacked) weights registered as buffers and inductor's `freezing` on, so
  inductor owns the whole step, GEMMs included, and may pack the weights itself.
Prints the warm-up (compile) time, the agreement with eager, and the median step time of each
(interleaved).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from helmrl.devices import describe_device
from helmrl.frozen import load_language_model, make_lm_memory
from helmrl.frozen.precision import resolve_frozen_dtype


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-envs", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_language_model("smollm2-135m").model
    dtype = resolve_frozen_dtype("auto", "cpu")
    n = args.n_envs
    import torch._dynamo.config as dynamo_config
    import torch._inductor.config as inductor_config

    dynamo_config.recompile_limit = 256  # one compiled GEMM site per weight shape, per variant

    mems = {k: make_lm_memory(model, n, 64, 4, dtype) for k in ("eager", "sdpa", "compiled")}
    mems["sdpa"].fused_attention = True
    m = mems["compiled"]
    m._mm = torch._dynamo.disable(m._mm)  # the packed GEMMs stay eager
    m._step = torch.compile(m._step, dynamic=False)
    frozen = mems["frozen"] = make_lm_memory(model, n, 64, 4, dtype, prepack=False)
    for k, v in list(frozen._w.items()):  # buffers, so that freezing may treat them as constants
        frozen.register_buffer("w_" + k.replace(".", "_"), v)
    frozen._w = {k: getattr(frozen, "w_" + k.replace(".", "_")) for k in frozen._w}
    inductor_config.freezing = True
    frozen._step = torch.compile(frozen._step, dynamic=False)
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(n, model.config.hidden_size, generator=g) for _ in range(40)]
    starts = [torch.zeros(n, dtype=torch.bool) for _ in range(40)]
    starts[0][:] = True
    print(f"host: {describe_device(torch.device('cpu'))}; LM weights {dtype}; {n} envs")
    outs = {}
    for k, mem in mems.items():
        mem.reset()
        t = time.perf_counter()
        outs[k] = [mem(xs[0], starts[0])]
        print(f"{k:9s} first step (compiles): {time.perf_counter() - t:.1f} s")
        outs[k] += [mem(x, s) for x, s in zip(xs[1:], starts[1:], strict=True)]
    ref = torch.stack(outs["eager"])
    for k in ("sdpa", "compiled", "frozen"):
        rel = (ref - torch.stack(outs[k])).norm(dim=-1) / ref.norm(dim=-1)
        print(
            f"{k:9s} vs eager, 40 steps: relative difference median {rel.median():.2e}, max {rel.max():.2e}"
        )
    times: dict[str, list[float]] = {k: [] for k in mems}
    for r in range(args.repeats):
        for k, mem in mems.items():
            t = time.perf_counter()
            mem(xs[r % 40], starts[1])
            times[k].append(time.perf_counter() - t)
    base = statistics.median(times["eager"])
    for k, ts in times.items():
        med = statistics.median(ts)
        print(f"{k:9s} {med * 1e3:7.2f} ms/step  {n / med:6.0f} env-steps/s  {base / med:4.2f}x eager")


if __name__ == "__main__":
    main()
