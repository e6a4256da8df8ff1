"""What moves an agent's policy early in training: the PPO update's terms, side by side per agent.

On RandomMaze at ``--preset randommaze``, Impala-PPO's policy barely moves for hundreds of updates
(approx_kl 0.0005–0.002 against CNN-PPO's ~0.01, entropy ≥ 1.30 of the maximum 1.386) while
CNN-PPO's entropy falls within 50 updates. This script trains each agent for ``--updates``
updates from the same seed and, before each update, takes the loss's three terms on the whole
rollout (the policy's clipped surrogate, vf_coef × the value MSE, −ent_coef × the entropy) and
their gradients apart:

- the gradient norm of each term on the trunk (the encoder, and the LSTM where there is one), on
  the actor head and on the critic head;
- the cosine between the policy's and the value's gradient on the trunk (the trunk is shared);
- how much the head's input varies between states: the mean over features of their standard
  deviation across the rollout's steps, over their mean absolute value (a feature that is the
  same everywhere cannot tell states apart);
- for the LSTM, the share of gate pre-activations (input and recurrent parts together) beyond
  ±3, where sigmoid and tanh pass under 5% of the gradient;

then runs the trainer's own update and records its optimizer steps, approx_kl, entropy and the
latest episode returns. The rows go to ``--out`` (CSV); the printout is their median per block of updates.

    .venv/bin/python experiments/update_anatomy.py --agents cnn lstm --updates 40 --torch-threads 1
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
from pathlib import Path

import torch

from helmrl.config import parse_override, preset
from helmrl.errors import ConfigError
from helmrl.ppo.loss import ppo_loss
from helmrl.ppo.rollout import select
from helmrl.ppo.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
TERMS = ("pg", "value", "entropy")


def _groups(agent: torch.nn.Module) -> dict[str, list[torch.nn.Parameter]]:
    """The trunk (everything below the head), the actor head and the critic head."""
    head = {id(p) for p in agent.head.parameters()}
    return {
        "trunk": [p for p in agent.parameters() if id(p) not in head],
        "actor": list(agent.head.actor.parameters()),
        "critic": list(agent.head.critic.parameters()),
    }


def _flat(grads: tuple[torch.Tensor | None, ...], params: list[torch.nn.Parameter]) -> torch.Tensor:
    return torch.cat(
        [
            (g if g is not None else torch.zeros_like(p)).reshape(-1)
            for g, p in zip(grads, params, strict=True)
        ]
    )


def anatomy(trainer: Trainer, rollout) -> dict[str, float]:
    """The terms' gradients on the whole rollout, and the head input's spread, before the update."""
    agent, ppo = trainer.agent, trainer.cfg.ppo
    n = rollout.actions.shape[1]
    whole = select(rollout, slice(None), torch.arange(n))
    captured: dict[str, torch.Tensor] = {}
    hooks = [
        agent.head.register_forward_pre_hook(lambda _m, args: captured.__setitem__("x", args[0].detach()))
    ]
    gates: list[torch.Tensor] = []
    if hasattr(agent, "lstm"):
        cell = agent.lstm

        def gate_hook(_m, args):
            x, (h, _c) = args
            pre = x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
            gates.append((pre.detach().abs() > 3).float().mean())

        hooks.append(cell.register_forward_pre_hook(gate_hook))
    try:
        _, _, terms = ppo_loss(
            agent,
            whole,
            clip_coef=ppo.clip_coef,
            ent_coef=ppo.ent_coef,
            vf_coef=ppo.vf_coef,
            norm_adv=ppo.norm_adv,
        )
    finally:
        for h in hooks:
            h.remove()
    weighted = {
        "pg": terms["pg"],
        "value": ppo.vf_coef * terms["value"],
        "entropy": -ppo.ent_coef * terms["entropy"],
    }
    groups = _groups(agent)
    row: dict[str, float] = {}
    trunk_grads = {}
    for name in TERMS:
        for group, params in groups.items():
            grads = torch.autograd.grad(weighted[name], params, retain_graph=True, allow_unused=True)
            flat = _flat(grads, params)
            row[f"{name}_grad_{group}"] = float(flat.norm())
            if group == "trunk":
                trunk_grads[name] = flat
    row["cos_pg_value_trunk"] = float(
        torch.nn.functional.cosine_similarity(trunk_grads["pg"], trunk_grads["value"], dim=0)
    )
    x = captured["x"].reshape(-1, captured["x"].shape[-1])
    row["head_input_spread"] = float(x.std(0).mean() / (x.abs().mean() + 1e-12))
    row["head_input_abs"] = float(x.abs().mean())
    if gates:
        row["lstm_gates_saturated"] = float(torch.stack(gates).mean())
    return row


def run(label: str, updates: int, seed: int, run_dir: Path) -> list[dict[str, float]]:
    """``label``: an agent, optionally with overrides of the preset, ``lstm:segments_per_minibatch=0``."""
    agent_name, _, sets = label.partition(":")
    overrides = dict(parse_override(item) for item in sets.split(",") if item)
    cfg = preset("randommaze", agent_name).replace(
        seed=seed, torch_threads=torch.get_num_threads(), **overrides
    )
    cfg = cfg.replace(total_steps=updates * cfg.ppo.rollout_steps * cfg.n_envs)
    trainer = Trainer.from_config(cfg, run_dir, progress=False, log=lambda *_: None)
    trainer.start_episodes()
    rows = []
    for u in range(updates):
        rollout = trainer.collect()
        row = {"agent": label, "seed": seed, "update": u + 1, **anatomy(trainer, rollout)}
        first = trainer.optimizer.param_groups[0]["params"][0]
        before = int(trainer.optimizer.state.get(first, {}).get("step", 0))
        stats = trainer.update(rollout)
        row["adam_steps"] = int(trainer.optimizer.state[first]["step"]) - before
        trainer.update_count += 1
        row["approx_kl"], row["entropy"] = stats["approx_kl"], stats["entropy"]
        recent = list(trainer.episodes.returns)[-32:]  # the latest episodes, at most 32
        row["recent_return"] = statistics.fmean(recent) if recent else float("nan")
        rows.append(row)
    trainer.envs.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--agents",
        nargs="+",
        default=["cnn", "lstm", "lstm:segments_per_minibatch=0"],
        help="agents to take apart, each AGENT or AGENT:FIELD=VALUE,... over the preset",
    )
    parser.add_argument(
        "--updates",
        type=int,
        default=40,
        help="updates per agent (each one rollout: 128 steps x 16 envs at the preset)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the run's seed")
    parser.add_argument("--block", type=int, default=10, help="updates per printed median")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch threads")
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "update-anatomy.csv",
        help="the per-update rows",
    )
    args = parser.parse_args()
    if args.updates < 1 or args.block < 1:
        parser.error("--updates and --block must be at least 1")
    torch.set_num_threads(args.torch_threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(args.agents):
            try:
                rows += run(name, args.updates, args.seed, Path(tmp) / str(i))
            except ConfigError as err:
                parser.error(str(err))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with open(args.out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fields)
        writer.writeheader()
        writer.writerows(rows)
    show = [f for f in fields if f not in ("agent", "seed", "update")]
    print("medians per block of updates; " + ", ".join(show))
    for name in args.agents:
        mine = [r for r in rows if r["agent"] == name]
        for start in range(0, len(mine), args.block):
            block = mine[start : start + args.block]
            cells = []
            for f in show:
                vals = [r[f] for r in block if f in r and r[f] == r[f]]
                cells.append(f"{f}={statistics.median(vals):.3g}" if vals else f"{f}=-")
            print(f"{name} updates {start + 1}-{start + len(block)}: " + " ".join(cells))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
