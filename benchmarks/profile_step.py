"""Where a HELM update's time goes: torch.profiler over one rollout (collect) and one PPO update.

    .venv/bin/python benchmarks/profile_step.py [--agent helm] [--n-envs 16] [--device cpu]
    .venv/bin/python benchmarks/profile_step.py --lm-step     # the frozen LM's step alone

Prints the host (the harness's description, benchmarks/harness.py), the wall time of each
phase and the top operators by self CPU (or CUDA) time; the rest of a phase's wall time is
Python and env stepping outside torch. A profiler, not the harness's timer: the wall times are
of the profiled calls (one phase, or 20 LM steps), with the profiler's own overhead. The same
numbers (each phase's wall time and env-steps/s, and the top operators' self time) are appended
as rows in the harness's schema to benchmarks/results/profile_step.csv.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from harness import RESULTS, check_out, host, row, sync, write_rows
from torch.profiler import ProfilerActivity, profile

from helmrl.config import preset
from helmrl.devices import resolve_device
from helmrl.ppo.trainer import Trainer

BENCH = "profile_step"


def top_ops(prof: profile, device: torch.device, top: int, case: str) -> tuple[str, list[dict[str, object]]]:
    """The profiler's table, and its top operators' self time (ms, over the profiled calls) as rows."""
    attr = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = prof.key_averages()
    ranked = sorted(events, key=lambda e: getattr(e, attr), reverse=True)[:top]
    metric = "self_cuda_ms" if device.type == "cuda" else "self_cpu_ms"
    rows = [row(BENCH, case, e.key, metric, round(getattr(e, attr) / 1e3, 3), "ms") for e in ranked]
    total = sum(getattr(e, attr) for e in events) / 1e3  # the denominator of any share quoted
    rows.append(row(BENCH, case, "(all operators)", metric, round(total, 3), "ms"))
    return events.table(sort_by=attr, row_limit=top, max_name_column_width=40), rows


def profile_lm_step(args: argparse.Namespace, device: torch.device) -> list[dict[str, object]]:
    from helmrl.frozen.language_model import load_language_model
    from helmrl.frozen.lm_memory import make_lm_memory
    from helmrl.frozen.precision import resolve_frozen_dtype

    lm = load_language_model(args.lm)
    n, dtype = args.n_envs or 16, resolve_frozen_dtype("auto", device)
    mem = make_lm_memory(lm.model.to(device), n, 64, 4, dtype)
    x = torch.randn(n, lm.model.config.hidden_size, device=device)
    go = torch.zeros(n, dtype=torch.bool, device=device)
    start = torch.ones(n, dtype=torch.bool, device=device)
    mem.reset()
    mem(x, start)
    for _ in range(10):
        mem(x, go)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        sync(device)
        t = time.perf_counter()
        for _ in range(20):
            mem(x, go)
        sync(device)
        wall = (time.perf_counter() - t) / 20
    case = f"lm-step lm={args.lm} n_envs={n} {str(dtype).removeprefix('torch.')}"
    print(f"== LM step, {n} envs, {dtype}: {wall * 1e3:.1f} ms a step (totals below are for 20 steps)")
    table, rows = top_ops(prof, device, args.top, case)
    print(table)
    return [
        row(BENCH, case, "-", "wall_ms_per_step", round(wall * 1e3, 3), "ms"),
        row(BENCH, case, "-", "env_steps_per_s", round(n / wall, 1), "steps/s"),
        *rows,
    ]


def profile_update(args: argparse.Namespace, device: torch.device) -> list[dict[str, object]]:
    cfg = preset(args.preset, args.agent).replace(
        n_envs=args.n_envs or preset(args.preset, args.agent).n_envs,
        device=str(device),
        lm=args.lm,
        total_steps=10**6,
    )
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tr = Trainer.from_config(cfg.validate(), Path(d), progress=False, log=lambda *_: None)
        tr.start_episodes()
        tr.update(tr.collect())  # warm-up
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        for phase in ("collect", "update"):
            rollout = tr.collect() if phase == "update" else None
            with profile(activities=activities) as prof:
                sync(device)
                t = time.perf_counter()
                rollout = tr.collect() if phase == "collect" else tr.update(rollout)
                sync(device)
                wall = time.perf_counter() - t
            steps = cfg.batch_size
            case = f"{phase} {args.agent}:{args.preset} n_envs={cfg.n_envs}"
            print(f"\n== {phase}: {wall * 1e3:.0f} ms for {steps} env-steps ({steps / wall:.0f} env-steps/s)")
            table, top = top_ops(prof, device, args.top, case)
            print(table)
            rows += [
                row(BENCH, case, "-", "wall_ms", round(wall * 1e3, 2), "ms"),
                row(BENCH, case, "-", "env_steps_per_s", round(steps / wall, 1), "steps/s"),
                *top,
            ]
        tr.envs.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--agent", default="helm", help="helm, cnn or lstm")
    ap.add_argument("--preset", default="keycorridor", help="the settings of this preset")
    ap.add_argument("--n-envs", type=int, default=0, help="0: the preset's (16 for --lm-step)")
    ap.add_argument("--device", default="cpu", help="auto, cpu, cuda or cuda:N")
    ap.add_argument("--lm", default="smollm2-135m", help="smollm2-135m, random-init or a folder")
    ap.add_argument("--top", type=int, default=12, help="operators shown and written")
    ap.add_argument("--lm-step", action="store_true", help="profile 20 steps of the LM memory alone")
    ap.add_argument("--out", type=Path, default=RESULTS / "profile_step.csv", help="CSV to append to")
    args = ap.parse_args()
    check_out(args.out)
    device = resolve_device(args.device)
    print(f"host: {host(device)}", flush=True)
    rows = profile_lm_step(args, device) if args.lm_step else profile_update(args, device)
    write_rows(args.out, rows, device)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
