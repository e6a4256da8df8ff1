"""PPO's settings: what the trainer's collect and update read, and nothing else.

Defaults are the authors' (their ``config.json``): AdamW at a constant 1e-4, 128 steps per env per
rollout, 3 epochs of 8 minibatches, γ = λ = 0.99, clip 0.2, entropy 0.05. No torch here, so reading
or checking a config does not load the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


def _f(default: Any, help: str) -> Any:  # noqa: A002 - `help` reads best in the field list
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class PPOConfig:
    lr: float = _f(1e-4, "AdamW learning rate")
    anneal_lr: bool = _f(False, "decay the lr linearly to 0 over the run (CleanRL); authors: constant")
    rollout_steps: int = _f(128, "steps per env per rollout")
    n_minibatches: int = _f(8, "minibatches per epoch (recurrent agents: at most n_envs, env groups)")
    segments_per_minibatch: int = _f(
        0,
        "recurrent agents: 0 = n_minibatches groups of whole env rollouts; k > 0 = minibatches of k "
        "episode segments (the authors' Impala-PPO: 8)",
    )
    env_minibatches: bool = _f(
        False,
        "a memoryless agent's minibatches are groups of whole env rollouts, as a recurrent agent's "
        "(false: random samples across all envs); a control for the minibatch's make-up",
    )
    epochs: int = _f(3, "PPO epochs per rollout")
    gamma: float = _f(0.99, "discount")
    gae_lambda: float = _f(0.99, "GAE λ")
    clip_coef: float = _f(0.2, "PPO ratio clip")
    ent_coef: float = _f(0.05, "entropy bonus")
    vf_coef: float = _f(0.5, "value loss weight: loss += vf_coef · MSE (authors and SB3)")
    max_grad_norm: float = _f(0.5, "gradient norm clip")
    weight_decay: float = _f(0.01, "AdamW weight decay (0.01: torch's default, as the authors' AdamW)")
    norm_adv: bool = _f(True, "normalise advantages per minibatch")
    bootstrap_truncated: bool = _f(
        False,
        "add γ·V(final obs) to the reward where an episode hits its time limit (SB3); "
        "off: a truncation ends the return like a termination (the authors' code, CleanRL)",
    )
    reward_norm: Literal["auto", "on", "off"] = _f(
        "auto", "auto (on for MiniGrid/Procgen, off for RandomMaze) | on | off"
    )
