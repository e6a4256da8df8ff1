"""Does torch.compile pay for the LM step on the CPU? Timed side by side with the eager step.

    .venv/bin/python benchmarks/compile_lm_step.py [--n-envs 16] [--threads 2]

Inductor cannot lower the oneDNN pre-packed linears the fast memory uses (it requires packed
weights to be frozen graph constants), so the compiled variant leaves those GEMMs eager
(`torch._dynamo.disable`) and compiles everything between them: RMS norms, rotary, the
one-query attention, SiLU·up and the residual adds, ~20 small ops a layer. Prints the warm-up
(compile) time, the agreement with eager, and the median step time of each (interleaved).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from helmrl.devices import describe_device
from helmrl.models import load_language_model, make_lm_memory
from helmrl.models.language_model import resolve_frozen_dtype


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
    mems = {k: make_lm_memory(model, n, 64, 4, dtype) for k in ("eager", "compiled")}
    m = mems["compiled"]
    m._mm = torch._dynamo.disable(m._mm)  # the packed GEMMs stay eager
    m._step = torch.compile(m._step, dynamic=False)
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
    a, b = torch.stack(outs["eager"]), torch.stack(outs["compiled"])
    rel = (a - b).norm(dim=-1) / a.norm(dim=-1)
    print(
        f"compiled vs eager over 40 steps: median relative difference {rel.median():.2e}, max {rel.max():.2e}"
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
