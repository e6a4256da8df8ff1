"""The trainable part of a seed group: N agents' PPO minibatch step in a Python loop against one
``torch.func`` call over their stacked parameters (``stack_module_state`` + ``vmap``), side by
side in one process, interleaved, medians.

    .venv/bin/python benchmarks/vmap_agents.py [--seeds 5] [--batch 256] [--reps 20]

Each variant computes, for every seed, the gradient of a PPO-shaped loss (policy log-probability
times a fixed advantage, value MSE, entropy) of HELM's agent (the authors' small CNN on a 9x9x3
RandomMaze view, the head on [576-d history, CNN]) on that seed's own minibatch. The two must
agree (checked to 1e-4 before timing). Rows go to benchmarks/results/vmap_agents.csv with the
CPU and its flags. Run it on a quiet machine (pause other jobs with ``kill -STOP``).
"""

from __future__ import annotations

import argparse
import copy

import torch
from harness import RESULTS, check_out, median, row, time_interleaved, write_rows
from torch.distributions import Categorical

from helmrl.models.agents import agent_class
from helmrl.models.configs import NetConfig

OBS, HISTORY, ACTIONS = (9, 9, 3), 576, 4


def loss_of(logits: torch.Tensor, value: torch.Tensor, mb: dict[str, torch.Tensor]) -> torch.Tensor:
    dist = Categorical(logits=logits)
    return (
        -(dist.log_prob(mb["action"]) * mb["advantage"]).mean()
        + 0.5 * (value - mb["ret"]).pow(2).mean()
        - 0.05 * dist.entropy().mean()
    )


def main() -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=fmt)
    parser.add_argument("--seeds", type=int, default=5, help="agents (default: 5)")
    parser.add_argument("--batch", type=int, default=256, help="minibatch per agent (default: 256, 2048/8)")
    parser.add_argument("--reps", type=int, default=20, help="timed rounds per variant (default: 20)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: 0, torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = RESULTS / "vmap_agents.csv"
    check_out(out)
    agents = []
    for s in range(args.seeds):
        torch.manual_seed(s)
        agents.append(agent_class("helm").from_config(NetConfig(), OBS, ACTIONS, HISTORY))
    g = torch.Generator().manual_seed(0)
    n, b = args.seeds, args.batch
    batches = {
        "observation": torch.randint(0, 256, (n, b, *OBS), generator=g, dtype=torch.uint8),
        "history": torch.randn(n, b, HISTORY, generator=g),
        "action": torch.randint(0, ACTIONS, (n, b), generator=g),
        "advantage": torch.randn(n, b, generator=g),
        "ret": torch.randn(n, b, generator=g),
    }
    start = torch.zeros(b, dtype=torch.bool)

    def loop() -> list[list[torch.Tensor]]:
        grads = []
        for i, agent in enumerate(agents):
            mb = {k: v[i] for k, v in batches.items()}
            logits, value, _ = agent({"observation": mb["observation"], "history": mb["history"]}, {}, start)
            agent.zero_grad(set_to_none=True)
            loss_of(logits, value, mb).backward()
            grads.append([p.grad for p in agent.parameters()])
        return grads

    params, buffers = torch.func.stack_module_state(agents)
    base = copy.deepcopy(agents[0]).to("meta")

    def one(p, bufs, mb):
        obs = {"observation": mb["observation"], "history": mb["history"]}
        logits, value, _ = torch.func.functional_call(base, (p, bufs), (obs, {}, start))
        return loss_of(logits, value, mb)

    vgrad = torch.vmap(torch.func.grad(one), in_dims=(0, 0, 0), randomness="different")

    def vmapped() -> dict[str, torch.Tensor]:
        return vgrad(params, buffers, batches)

    looped, stacked = loop(), vmapped()
    names = [name for name, _ in agents[0].named_parameters()]
    for i in range(n):
        for j, name in enumerate(names):
            torch.testing.assert_close(stacked[name][i], looped[i][j], rtol=1e-4, atol=1e-5)
    times = time_interleaved({"loop": loop, "vmap": vmapped}, reps=args.reps)
    ratio = median(times["loop"]) / median(times["vmap"])
    case = f"{n} HELM agents, minibatch {b}, threads {torch.get_num_threads()}"
    rows = [row("vmap_agents", case, v, "seconds per step, median", median(times[v]), "s") for v in times]
    rows.append(row("vmap_agents", case, "vmap/loop", "speed ratio (loop time / vmap time)", ratio, "x"))
    write_rows(out, rows)
    for v in times:
        print(f"{v:5s} {median(times[v]) * 1e3:8.1f} ms per step of {n} agents (median of {args.reps})")
    print(f"vmap is {ratio:.2f}x the loop's speed ({case}); rows in {out}")


if __name__ == "__main__":
    main()
