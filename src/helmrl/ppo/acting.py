"""The act → sample → env.step loop, once, for training, evaluation, videos and analyses.

``ActingLoop`` holds all the changing state of acting in one place: the envs, the next
observation and episode-start flags, the agent's recurrent state, and the frozen history of
the next observation. The frozen history is computed exactly once per observation, when the
observation arrives, so the bootstrap value and the next rollout's first step share it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from gymnasium.vector import VectorEnv
from torch import Tensor
from torch.distributions import Categorical

from ..models import Agent, FrozenHistory, State


@dataclass
class Step:
    """One vector step: what the policy saw and did, and what the envs returned."""

    obs: Tensor  # (N, ...) on the device: the observation acted on
    start: Tensor  # (N,) bool: obs opened an episode
    history: Tensor | None  # (N, m) frozen history of obs (HELM)
    action: Tensor  # (N,)
    logprob: Tensor  # (N,)
    value: Tensor  # (N,)
    reward: np.ndarray  # (N,) raw env reward
    done: np.ndarray  # (N,) terminated | truncated (the next obs is the next episode's first)
    info: dict  # the vector env's infos ("final_obs" holds terminal observations)


class ActingLoop:
    def __init__(
        self,
        envs: VectorEnv,
        agent: Agent | None,
        history: FrozenHistory | None = None,
        device: torch.device | str = "cpu",
    ):
        """``agent`` None: uniformly random actions (from the action space's seeded RNG)."""
        self.envs, self.agent, self.history = envs, agent, history
        self.device = torch.device(device)
        self.n_envs = envs.num_envs
        self.agent_state: State = {}
        self.next_obs: Tensor | None = None
        self.next_start = torch.ones(self.n_envs, dtype=torch.bool, device=self.device)
        self.next_history: Tensor | None = None

    def reset(self, seed: int | None = None) -> None:
        """Fresh episodes in every env, empty memories."""
        obs, _ = self.envs.reset(seed=seed)
        if seed is not None:
            self.envs.action_space.seed(seed)
        if self.agent is not None:
            self.agent_state = self.agent.initial_state(self.n_envs)
        if self.history is not None:
            self.history.reset(self.n_envs)
        self._arrive(obs, np.ones(self.n_envs, dtype=bool))

    def _arrive(self, obs: np.ndarray, start: np.ndarray) -> None:
        cpu_obs = torch.as_tensor(obs)
        self.next_obs = cpu_obs.to(self.device, non_blocking=True)
        self.next_start = torch.as_tensor(start).to(self.device)
        if self.history is not None:
            self.next_history = self.history(cpu_obs, self.next_start)

    @torch.no_grad()
    def step(self, greedy: bool = False) -> Step:
        obs, start, history = self.next_obs, self.next_start, self.next_history
        if self.agent is None:
            action = torch.as_tensor(self.envs.action_space.sample())
            logprob = value = torch.zeros(self.n_envs)
        else:
            logits, value, self.agent_state = self.agent(obs, history, self.agent_state, start)
            dist = Categorical(logits=logits)
            action = logits.argmax(-1) if greedy else dist.sample()
            logprob = dist.log_prob(action)
        next_obs, reward, term, trunc, info = self.envs.step(action.cpu().numpy())
        done = term | trunc  # truncation counts as an end (no bootstrap), as in CleanRL
        self._arrive(next_obs, done)
        return Step(obs, start, history, action, logprob, value, reward, done, info)

    @torch.no_grad()
    def next_value(self) -> Tensor:
        """V(next obs) under the current state, for bootstrapping (the state is not advanced)."""
        assert self.agent is not None
        return self.agent(self.next_obs, self.next_history, self.agent_state, self.next_start)[1]


def play_returns(loop: ActingLoop, episodes: int, greedy: bool = False) -> list[float]:
    """Raw returns of ``episodes`` full episodes; each env plays a fixed quota, so short
    episodes are not over-represented."""
    n = loop.n_envs
    quota = np.array([episodes // n + (i < episodes % n) for i in range(n)])
    ep_ret, returns = np.zeros(n), []
    while quota.sum() > 0:
        s = loop.step(greedy)
        ep_ret += s.reward
        for i in np.flatnonzero(s.done & (quota > 0)):
            returns.append(float(ep_ret[i]))
            quota[i] -= 1
        ep_ret[s.done] = 0.0
    return returns
