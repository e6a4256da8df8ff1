"""Collecting observations and frames from one env, with a random policy or a trained run."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from gymnasium.wrappers import RenderCollection

from ..envs import make_vec_env
from ..frozen.history_stage import HistoryStage
from ..models.agents import Agent
from ..observation_keys import OBSERVATION
from ..ppo.acting import ActingLoop


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
    agent: Agent | None = None,
    history: HistoryStage | None = None,
    max_steps: int | None = None,
    render: bool = False,
    n_envs: int = 1,
) -> Episode:
    """One episode of env 0 through the shared acting loop; ``agent`` None means uniformly random
    actions. ``n_envs`` > 1 plays env 0 beside others, for a stage whose inputs depend on the whole
    batch (HELMv2 standardises over the envs: ``HistoryConfig.couples_envs``).

    Frames come from gymnasium's RenderCollection, so the terminal frame is kept even though
    the vector env resets on the same step; only env 0 renders."""
    made = 0

    def wrapper(env):  # RenderCollection on env 0 only: SyncVectorEnv makes its envs in order
        nonlocal made
        made += 1
        return RenderCollection(env, pop_frames=True, reset_clean=False) if made == 1 else env

    envs = make_vec_env(
        env_id, n_envs, render_mode="rgb_array" if render else None, wrapper=wrapper if render else None
    )
    device = next(agent.parameters()).device if agent is not None else "cpu"
    loop = ActingLoop(envs, agent, history, device)
    loop.reset(seed)
    ep = Episode([loop.next_obs[OBSERVATION][0].cpu().numpy()], [envs.envs[0].render()[-1]] if render else [])
    while max_steps is None or len(ep.rewards) < max_steps:
        s = loop.step()
        ep.rewards.append(float(s.reward[0]))
        if render:
            ep.frames.append(envs.envs[0].render()[0])  # [after this step, after the autoreset]
        if s.done[0]:
            ep.observations.append(np.asarray(s.info["final_obs"][0]))
            break
        ep.observations.append(loop.next_obs[OBSERVATION][0].cpu().numpy())
    envs.close()
    return ep


def random_observations(env_id: str, n: int, seed: int) -> np.ndarray:
    """n observations from random-policy episodes (new episode whenever one ends)."""
    out: list[np.ndarray] = []
    s = seed
    while len(out) < n:
        out.extend(play_episode(env_id, s, max_steps=n - len(out)).observations)
        s += 1
    return np.stack(out[:n])
