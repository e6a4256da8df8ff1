"""What a longer LM memory costs per step: SmolLM2's streaming step with a full window of
``mem_len`` slots, for several windows side by side in one process (interleaved, medians).

    .venv/bin/python benchmarks/mem_len_cost.py [--n-envs 16] [--mem-lens 64 512] [--reps 30]

The authors' TrXL kept 511 steps; helmrl's KeyCorridor preset gives HELM 512 slots (a whole
episode), the default elsewhere is 64. Each window is filled first, so every timed step attends
over all of it. Prints ms per step, env-steps/s and the ratio to the first window, with the host.
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
    ap.add_argument("--n-envs", type=int, default=16, help="(default: 16)")
    ap.add_argument("--mem-lens", type=int, nargs="+", default=[64, 512], help="(default: 64 512)")
    ap.add_argument("--reps", type=int, default=30, help="timed steps per window (default: 30)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    lm = load_language_model()
    dtype = resolve_frozen_dtype("auto", torch.device("cpu"))
    n, width = args.n_envs, lm.model.config.hidden_size
    mems = {m: make_lm_memory(lm.model, n, m, 4, dtype) for m in args.mem_lens}
    x = torch.randn(n, width) * lm.token_embeddings.float().std()
    go_on = torch.zeros(n, dtype=torch.bool)
    for m, mem in mems.items():  # fill every window: each timed step attends over all m slots
        mem.reset()
        mem(x, torch.ones(n, dtype=torch.bool))
        for _ in range(m):
            mem(x, go_on)
    times: dict[int, list[float]] = {m: [] for m in mems}
    for _ in range(args.reps):  # interleaved: drift hits every window alike
        for m, mem in mems.items():
            t = time.perf_counter()
            mem(x, go_on)
            times[m].append(time.perf_counter() - t)
    base = statistics.median(times[args.mem_lens[0]])
    host = describe_device(torch.device("cpu"))
    print(f"host: {host}, {dtype}, {n} envs")
    for m in mems:
        med = statistics.median(times[m])
        print(f"mem_len {m:5d}: {med * 1e3:7.1f} ms/step  {n / med:7.1f} env-steps/s  {med / base:5.2f}x")


if __name__ == "__main__":
    main()
