"""CPU levers for the trainable half of HELM (the CNN encoder and heads), timed side by side.

    .venv/bin/python benchmarks/cpu_levers.py [--threads 2] [--repeats 30]

The authors' CNN (channel scale 4, 1024 features) on KeyCorridor's 56×56×3 pixels is as costly
per env-step in training as the frozen LM; this times, in one process and interleaved, its
rollout forward (16 envs, no grad) and a PPO minibatch forward + backward + fused AdamW step
(64 samples: 16 envs × 32 steps / 8 minibatches) for
- eager (what training runs today),
- channels-last weights (the input is already channels-last: the observation is NHWC),
- torch.compile (inductor) of the whole agent forward,
- bf16 autocast (only where the CPU has native bf16; it changes the trainable half's numerics,
  so it would need its own learning check before it could be a default).
The harness's timer (benchmarks/harness.py: warm-up rounds, then the variants interleaved);
prints median ms and the ratio to eager, with the host; rows (the harness's schema) are appended
to benchmarks/results/cpu_levers-long.csv (results/cpu_levers.csv is an earlier run's table).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from harness import RESULTS, check_out, host, median, row, time_interleaved, write_rows

from helmrl.config import preset
from helmrl.frozen.precision import cpu_has_fast_bf16
from helmrl.models.agents import agent_class

BENCH = "cpu_levers"
KINDS = ("eager", "channels-last", "compile", "bf16-autocast")


def make_agent(kind: str, obs_shape, n_actions: int, history_dim: int):
    cfg = preset("keycorridor").replace(agent="helm")
    agent = agent_class("helm").from_config(cfg.net, obs_shape, n_actions, history_dim)
    if kind == "channels-last":
        agent = agent.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(agent.parameters(), lr=1e-4, fused=True)
    fwd = torch.compile(agent) if kind == "compile" else agent
    return agent, fwd, opt


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--repeats", type=int, default=30, help="timed calls per variant and phase")
    ap.add_argument(
        "--variants",
        nargs="+",
        default=list(KINDS),
        choices=KINDS,
        help="eager is always timed (the reference); bf16-autocast only where the CPU has native bf16",
    )
    ap.add_argument("--out", type=Path, default=RESULTS / "cpu_levers-long.csv", help="CSV to append to")
    args = ap.parse_args()
    check_out(args.out)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    obs_shape, n_actions, hist = (56, 56, 3), 7, 576
    kinds = ["eager", *(k for k in args.variants if k != "eager")]
    if not cpu_has_fast_bf16() and "bf16-autocast" in kinds:
        kinds.remove("bf16-autocast")
    built = {k: make_agent(k, obs_shape, n_actions, hist) for k in kinds}
    roll_obs = torch.randint(0, 256, (16, *obs_shape), dtype=torch.uint8)
    roll_hist = torch.randn(16, hist)
    mb_obs = torch.randint(0, 256, (64, *obs_shape), dtype=torch.uint8)
    mb_hist = torch.randn(64, hist)
    starts = torch.zeros(16, dtype=torch.bool)

    def autocast(kind: str):
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=kind == "bf16-autocast")

    def rollout(kind: str) -> None:
        agent, fwd, _ = built[kind]
        with torch.no_grad(), autocast(kind):
            fwd({"observation": roll_obs, "history": roll_hist}, agent.initial_state(16), starts)

    def minibatch(kind: str) -> None:
        agent, fwd, opt = built[kind]
        with autocast(kind):
            logits, value, _ = fwd(
                {"observation": mb_obs, "history": mb_hist},
                agent.initial_state(64),
                torch.zeros(64, dtype=torch.bool),
            )
            loss = logits.float().logsumexp(-1).mean() + value.float().square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    print(f"host: {host()}", flush=True)
    rows = []
    for phase, fn in (
        ("rollout forward, 16 envs", rollout),
        ("PPO minibatch of 64, fwd+bwd+AdamW", minibatch),
    ):
        calls = {k: (lambda k=k, fn=fn: fn(k)) for k in kinds}
        times = time_interleaved(calls, reps=args.repeats)  # its warm-up calls compile
        base = median(times["eager"]) * 1e3
        for kind, ts in times.items():
            med = median(ts) * 1e3
            rows.append(row(BENCH, phase, kind, "median_ms", round(med, 3), "ms"))
            rows.append(row(BENCH, phase, kind, "speedup_vs_eager", round(base / med, 3), "x"))
            print(f"{phase:38s} {kind:14s} {med:8.2f} ms  {base / med:5.2f}x eager")
    write_rows(args.out, rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
