"""Collecting observations and frames from one env, with a random policy or a trained run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.distributions import Categorical

from ..envs import make_env


@dataclass
class Episode:
    observations: list[np.ndarray] = field(default_factory=list)  # o_0 .. o_T
    frames: list[np.ndarray] = field(default_factory=list)  # env.render() beside each observation
    rewards: list[float] = field(default_factory=list)

    @property
    def ret(self) -> float:
        return float(sum(self.rewards))


@torch.no_grad()
def play_episode(
    env_id: str,
    seed: int,
    agent=None,
    max_steps: int | None = None,
    render: bool = False,  # noqa: ANN001
) -> Episode:
    """One episode; ``agent`` None means uniformly random actions."""
    env = make_env(env_id, render_mode="rgb_array" if render else None)
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    if agent is not None:
        agent.reset_memory(1)
    ep = Episode([obs], [env.render()] if render else [])
    start = torch.ones(1, dtype=torch.bool)
    t = 0
    while max_steps is None or t < max_steps:
        if agent is None:
            action = int(env.action_space.sample())
        else:
            logits, _, _ = agent.act(torch.as_tensor(obs)[None], start)
            action = int(Categorical(logits=logits).sample())
        obs, reward, term, trunc, _ = env.step(action)
        ep.rewards.append(float(reward))
        ep.observations.append(obs)
        if render:
            ep.frames.append(env.render())
        start = torch.zeros(1, dtype=torch.bool)
        t += 1
        if term or trunc:
            break
    env.close()
    return ep


def random_observations(env_id: str, n: int, seed: int) -> np.ndarray:
    """n observations from random-policy episodes (new episode whenever one ends)."""
    out: list[np.ndarray] = []
    s = seed
    while len(out) < n:
        out.extend(play_episode(env_id, s, max_steps=n - len(out)).observations)
        s += 1
    return np.stack(out[:n])


def load_run_agent(run_dir: Path):  # noqa: ANN201
    from ..runs import load_agent

    return load_agent(run_dir)
