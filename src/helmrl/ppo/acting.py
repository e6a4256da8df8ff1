"""The act → sample → env.step loop, once, for training, evaluation, videos and analyses.

``ActingLoop`` holds all the changing state of acting in one place: the envs, the next
observation and episode-start flags, and the agent's recurrent state. Observations reach the
agent as a dict of tensors on the device (``helmrl.observation_keys``). HELM's frozen history is
part of the observation: ``FrozenHistoryObservation``, the wrapper users get, computes it exactly
once per observation, when the observation arrives, so the bootstrap value and the next
rollout's first step share it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from gymnasium.vector import VectorEnv
from torch import Tensor
from torch.distributions import Categorical

from ..frozen.history_stage import HistoryStage
from ..models.agents import Agent, Observation, State
from ..observation_keys import HISTORY, OBSERVATION


@dataclass
class Step:
    """One vector step: what the policy saw and did, and what the envs returned."""

    obs: Observation  # (N, ...) tensors on the device: the observation acted on
    start: Tensor  # (N,) bool: obs opened an episode
    action: Tensor  # (N,)
    logprob: Tensor  # (N,)
    value: Tensor  # (N,)
    reward: np.ndarray  # (N,) the envs' reward, scaled where ScaleReward wraps them
    done: np.ndarray  # (N,) terminated | truncated (the next obs is the next episode's first)
    info: dict  # the vector env's infos ("final_obs" holds terminal observations)
    truncated: np.ndarray | None = None  # (N,) bool: the episode hit a time limit, not a terminal state


class ActingLoop:
    def __init__(
        self,
        envs: VectorEnv,
        agent: Agent | None,
        history: HistoryStage | None = None,
        device: torch.device | str = "cpu",
    ):
        """``agent`` None: uniformly random actions (from the action space's seeded RNG).
        ``history``: a built frozen history stage to wrap ``envs`` in (``FrozenHistoryObservation``
        without terminal histories); or pass envs already wrapped."""
        self.device = torch.device(device)
        if history is not None:
            from ..wrappers import FrozenHistoryObservation

            envs = FrozenHistoryObservation(envs, history, self.device, final_history=False)
        self.envs, self.agent = envs, agent
        self.n_envs = envs.num_envs
        self.agent_state: State = {}
        self.next_obs: Observation = {}
        self.next_start = torch.ones(self.n_envs, dtype=torch.bool, device=self.device)

    @property
    def next_history(self) -> Tensor | None:
        """The frozen history of the next observation (None without FrozenHistoryObservation)."""
        return self.next_obs.get(HISTORY)

    def reset(self, seed: int | None = None) -> None:
        """Fresh episodes in every env, empty memories."""
        obs, _ = self.envs.reset(seed=seed)
        if seed is not None:
            self.envs.action_space.seed(seed)
        if self.agent is not None:
            self.agent_state = self.agent.initial_state(self.n_envs)
        self._arrive(obs, np.ones(self.n_envs, dtype=bool))

    def _arrive(self, obs: np.ndarray | dict[str, np.ndarray], start: np.ndarray) -> None:
        parts = obs if isinstance(obs, dict) else {OBSERVATION: obs}
        self.next_obs = {k: torch.as_tensor(v).to(self.device, non_blocking=True) for k, v in parts.items()}
        self.next_start = torch.as_tensor(start).to(self.device)

    @torch.no_grad()
    def step(self, greedy: bool = False) -> Step:
        obs, start = self.next_obs, self.next_start
        if self.agent is None:
            action = torch.as_tensor(self.envs.action_space.sample())
            logprob = value = torch.zeros(self.n_envs)
        else:
            logits, value, self.agent_state = self.agent(obs, self.agent_state, start)
            dist = Categorical(logits=logits)
            action = logits.argmax(-1) if greedy else dist.sample()
            logprob = dist.log_prob(action)
        next_obs, reward, term, trunc, info = self.envs.step(action.cpu().numpy())
        done = term | trunc  # an end either way; the trainer may bootstrap truncations (SB3)
        self._arrive(next_obs, done)
        truncated = np.asarray(trunc) & ~np.asarray(term)
        return Step(obs, start, action, logprob, value, reward, done, info, truncated)

    @torch.no_grad()
    def final_value(self, step: Step, envs: np.ndarray) -> Tensor:
        """V(final observation) of the episodes that ``step`` ended in ``envs``, under the agent's
        state after that step (before the next step zeroes it): SB3's bootstrap of truncated
        episodes. Needs the vector env's ``info["final_obs"]`` (same-step autoreset) and, for agents
        that read the frozen history, ``FrozenHistoryObservation(..., final_history=True)`` (or
        ``"truncated"``, which gives the truncated episodes' only)."""
        assert self.agent is not None
        finals = [step.info["final_obs"][int(i)] for i in envs]
        keys = finals[0].keys() if isinstance(finals[0], dict) else None
        if keys is None:
            obs = {OBSERVATION: torch.as_tensor(np.stack(finals)).to(self.device)}
        else:
            obs = {k: torch.as_tensor(np.stack([f[k] for f in finals])).to(self.device) for k in keys}
        idx = torch.as_tensor(envs, device=self.device)
        state = {k: v[idx] for k, v in self.agent_state.items()}
        start = torch.zeros(len(envs), dtype=torch.bool, device=self.device)
        return self.agent(obs, state, start)[1]

    @torch.no_grad()
    def next_value(self) -> Tensor:
        """V(next obs) under the current state, for bootstrapping (the state is not advanced)."""
        assert self.agent is not None
        return self.agent(self.next_obs, self.agent_state, self.next_start)[1]


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
