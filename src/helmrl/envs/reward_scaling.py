"""Reward scaling as a vector-env wrapper (the authors' reward normalisation).

r̃_t = clip(r_t / sqrt(Var[G] + ε), ±clip), with G_t = γ G_{t-1} + r_t the running discounted
return of each env (zeroed when its episode ends) and Var[G] gymnasium's RunningMeanStd over every
G seen. Like Stable-Baselines3's ``VecNormalize.get_original_reward()``, the last raw rewards stay
readable (``original_reward``). helmrl's trainer reports episode returns from gymnasium's
``RecordEpisodeStatistics`` beneath this wrapper, so they are the envs' own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import VectorEnv, VectorWrapper
from gymnasium.wrappers.utils import RunningMeanStd


class ScaleReward(VectorWrapper):
    def __init__(self, env: VectorEnv, gamma: float, clip: float = 1.0, epsilon: float = 1e-8):
        super().__init__(env)
        self.gamma, self.clip, self.epsilon = gamma, clip, epsilon
        self.returns = np.zeros(env.num_envs, dtype=np.float64)
        self.rms = RunningMeanStd(shape=())
        self.original_reward = np.zeros(env.num_envs, dtype=np.float64)

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        """New episodes everywhere: every env's running return restarts (the statistic stays)."""
        out = self.env.reset(seed=seed, options=options)
        self.returns[:] = 0.0
        return out

    def step(self, actions: Any):
        obs, reward, terminated, truncated, info = self.env.step(actions)
        self.original_reward = np.asarray(reward)
        return (
            obs,
            self.scale(reward, np.asarray(terminated) | np.asarray(truncated)),
            terminated,
            truncated,
            info,
        )

    def scale(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        self.returns = self.returns * self.gamma + rewards
        self.rms.update(self.returns)
        self.returns[dones] = 0.0
        scaled = rewards / np.sqrt(self.rms.var + self.epsilon)
        return np.clip(scaled, -self.clip, self.clip)

    def state_dict(self) -> dict[str, object]:
        """The return statistic only: the running returns restart with the episodes that a
        resumed run starts afresh, so saving them would be dead state."""
        return {
            "mean": float(self.rms.mean),
            "var": float(self.rms.var),
            "count": float(self.rms.count),
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restores the statistic (older checkpoints' "returns" are ignored, as reset zeroes them)."""
        self.rms.mean = np.float64(state["mean"])
        self.rms.var = np.float64(state["var"])
        self.rms.count = float(state["count"])


def find_wrapper(env: Any, cls: type) -> Any | None:
    """The first wrapper of type ``cls`` in ``env``'s chain (``env`` itself included), or None."""
    while env is not None:
        if isinstance(env, cls):
            return env
        env = getattr(env, "env", None)
    return None
