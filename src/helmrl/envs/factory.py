"""Vectorized environments by id, with the pixel wrappers and reward scaling of each family."""

from __future__ import annotations

import difflib
from collections.abc import Callable

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers.utils import RunningMeanStd


class EnvError(ValueError):
    """An environment id or space that helmrl cannot use (message names the fix)."""


def env_family(env_id: str) -> str:
    if env_id.startswith("MiniGrid-") or env_id.startswith("BabyAI-"):
        return "minigrid"
    if env_id.startswith("ProcgenMemory-"):
        return "procgen"
    if env_id.startswith("RandomMaze"):
        return "randommaze"
    return "gymnasium"


def default_reward_norm(env_id: str) -> bool:
    """As in the authors' code: normalise rewards for MiniGrid and Procgen, not for RandomMaze."""
    return env_family(env_id) in ("minigrid", "procgen")


def check_env_id(env_id: str) -> None:
    """Raise EnvError naming the closest registered ids if ``env_id`` is unknown."""
    if env_family(env_id) == "minigrid":
        import minigrid  # noqa: F401 - registers the MiniGrid ids
    if env_id in gym.registry:
        return
    close = difflib.get_close_matches(env_id, list(gym.registry), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see `helmrl envs` for the known ids"
    raise EnvError(f"unknown env id {env_id!r}{hint}")


def make_env(env_id: str, render_mode: str | None = None) -> gym.Env:
    """One env with the family's observation wrappers (MiniGrid: 56×56×3 egocentric RGB)."""
    check_env_id(env_id)
    env = gym.make(env_id, render_mode=render_mode)
    if env_family(env_id) == "minigrid":
        from minigrid.wrappers import ImgObsWrapper, RGBImgPartialObsWrapper

        env = ImgObsWrapper(RGBImgPartialObsWrapper(env))
    check_spaces(env_id, env.observation_space, env.action_space)
    return env


def check_spaces(env_id: str, obs_space: gym.Space, act_space: gym.Space) -> None:
    if not isinstance(act_space, gym.spaces.Discrete):
        raise EnvError(f"{env_id}: action space {act_space} is not supported; helmrl needs Discrete actions")
    ok_image = (
        isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 3 and obs_space.dtype == np.uint8
    )
    ok_vector = isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 1
    if not (ok_image or ok_vector):
        raise EnvError(
            f"{env_id}: observation space {obs_space} is not supported; helmrl takes an "
            "(H, W, C) uint8 image or a flat vector Box (wrap Dict spaces, e.g. MiniGrid's ImgObsWrapper)"
        )


def make_vec_env(env_id: str, n_envs: int, render_mode: str | None = None) -> SyncVectorEnv:
    """Same-step autoreset: on a terminal step the returned observation is already the next
    episode's first one, as the PPO loop (and CleanRL) expect."""
    check_env_id(env_id)
    fns: list[Callable[[], gym.Env]] = [lambda: make_env(env_id, render_mode) for _ in range(n_envs)]
    return SyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)


class RewardScaler:
    """Divide rewards by the running std of the discounted return, then clip to ±clip (the
    authors' reward normalisation; the statistic is gymnasium's RunningMeanStd)."""

    def __init__(self, n_envs: int, gamma: float, clip: float = 1.0, epsilon: float = 1e-8):
        self.gamma, self.clip, self.epsilon = gamma, clip, epsilon
        self.returns = np.zeros(n_envs, dtype=np.float64)
        self.rms = RunningMeanStd(shape=())

    def __call__(self, rewards: np.ndarray, dones: np.ndarray) -> np.ndarray:
        self.returns = self.returns * self.gamma + rewards
        self.rms.update(self.returns)
        self.returns[dones] = 0.0
        scaled = rewards / np.sqrt(self.rms.var + self.epsilon)
        return np.clip(scaled, -self.clip, self.clip)

    def state_dict(self) -> dict[str, object]:
        return {
            "returns": self.returns.tolist(),
            "mean": float(self.rms.mean),
            "var": float(self.rms.var),
            "count": float(self.rms.count),
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.returns = np.asarray(state["returns"], dtype=np.float64)
        self.rms.mean = np.float64(state["mean"])
        self.rms.var = np.float64(state["var"])
        self.rms.count = float(state["count"])
