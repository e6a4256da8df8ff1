"""Where a HELM update's time goes: torch.profiler over one rollout (collect) and one PPO update.

    .venv/bin/python benchmarks/profile_step.py [--agent helm] [--n-envs 16] [--device cpu]
    .venv/bin/python benchmarks/profile_step.py --lm-step     # the frozen LM's step alone

Prints wall time of each phase and the top operators by self CPU (or CUDA) time; the rest of a
phase's wall time is Python and env stepping outside torch.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from torch.profiler import ProfilerActivity, profile

from helmrl.config import preset
from helmrl.ppo import Trainer


def profile_lm_step(args: argparse.Namespace) -> None:
    import torch

    from helmrl.frozen import load_language_model, make_lm_memory
    from helmrl.frozen.precision import resolve_frozen_dtype

    lm = load_language_model(args.lm)
    n, dtype = args.n_envs, resolve_frozen_dtype("auto", args.device)
    mem = make_lm_memory(lm.model.to(args.device), n, 64, 4, dtype)
    x = torch.randn(n, lm.model.config.hidden_size, device=args.device)
    go, start = torch.zeros(n, dtype=torch.bool), torch.ones(n, dtype=torch.bool)
    mem.reset()
    mem(x, start)
    for _ in range(10):
        mem(x, go)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t = time.perf_counter()
        for _ in range(20):
            mem(x, go)
        wall = (time.perf_counter() - t) / 20
    print(f"== LM step, {n} envs, {dtype}: {wall * 1e3:.1f} ms a step (totals below are for 20 steps)")
    print(
        prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.top, max_name_column_width=40)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agent", default="helm")
    ap.add_argument("--preset", default="keycorridor", help="the settings of this preset")
    ap.add_argument("--n-envs", type=int, default=0, help="0: the preset's")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--lm", default="smollm2-135m")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--lm-step", action="store_true", help="profile 20 steps of the LM memory alone")
    args = ap.parse_args()
    if args.lm_step:
        profile_lm_step(args)
        return
    cfg = preset(args.preset, args.agent).replace(
        n_envs=args.n_envs or preset(args.preset, args.agent).n_envs,
        device=args.device,
        lm=args.lm,
        total_steps=10**6,
    )
    with tempfile.TemporaryDirectory() as d:
        tr = Trainer.from_config(cfg.validate(), Path(d), progress=False, log=lambda *_: None)
        tr.start_episodes()
        tr.update(tr.collect())  # warm-up
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if tr.device.type == "cuda" else [])
        sort = "self_cuda_time_total" if tr.device.type == "cuda" else "self_cpu_time_total"
        for phase in ("collect", "update"):
            rollout = tr.collect() if phase == "update" else None
            with profile(activities=activities) as prof:
                t = time.perf_counter()
                rollout = tr.collect() if phase == "collect" else tr.update(rollout)
                wall = time.perf_counter() - t
            steps = cfg.rollout_steps * cfg.n_envs
            print(f"\n== {phase}: {wall * 1e3:.0f} ms for {steps} env-steps ({steps / wall:.0f} env-steps/s)")
            print(prof.key_averages().table(sort_by=sort, row_limit=args.top, max_name_column_width=40))
        tr.envs.close()


if __name__ == "__main__":
    main()
