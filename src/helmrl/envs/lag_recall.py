"""LagRecall: at every step, name the symbol seen exactly k steps earlier.

A measure of exact recall by lag. Each step shows one of ``n_symbols`` symbols, drawn uniformly
and independently; from step k on, the action at step t names the symbol shown at step t − k
and earns +1 if right, −1 if wrong, each divided by the number of questions, so an episode's
return lies in [−1, 1]. Steps before k ask nothing and pay 0.

- **Chance** is 2/S − 1 for S symbols (−0.5 for the default 4): the symbols are independent, so
  no policy that sees only the current observation can do better in expectation, and one that
  recalls every lag-k symbol gets 1.
- **Observations**: ``"onehot"``, S floats; or ``"tiles"``, a 7×7×3 uint8 image per symbol, a
  fixed random black-and-white pattern (grey, so FrozenHopfield's channel mean keeps it), the
  same for every env and seed.
- **Length**: k + ``questions`` steps (default 32 questions), then the episode terminates.

Registered ids: ``LagRecall-K{k}-{OneHot|Tiles}-v0`` for k in 1, 2, 4, 8, 16.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from .families import EnvFamily, register_family

LAGS = (1, 2, 4, 8, 16)
TILE = 7


def symbol_tiles(n_symbols: int, size: int = TILE) -> np.ndarray:
    """(S, size, size, 3) uint8: one fixed random black-and-white pattern per symbol, distinct."""
    gen = np.random.default_rng(20_221_207)
    while True:
        masks = gen.integers(0, 2, size=(n_symbols, size, size), dtype=np.uint8)
        if len({m.tobytes() for m in masks}) == n_symbols:
            return np.repeat(masks[..., None] * 255, 3, axis=-1)


class LagRecallEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(
        self,
        lag: int = 4,
        n_symbols: int = 4,
        questions: int = 32,
        observation: str = "onehot",
        render_mode: str | None = None,
    ):
        if lag < 1 or n_symbols < 2 or questions < 1:
            raise ValueError(
                f"need lag >= 1, n_symbols >= 2, questions >= 1; got {lag}, {n_symbols}, {questions}"
            )
        if observation not in ("onehot", "tiles"):
            raise ValueError(f"observation must be 'onehot' or 'tiles', got {observation!r}")
        self.lag, self.n_symbols, self.questions, self.kind = lag, n_symbols, questions, observation
        self.render_mode = render_mode
        if observation == "onehot":
            self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(n_symbols,), dtype=np.float32)
        else:
            self._tiles = symbol_tiles(n_symbols)
            self.observation_space = gym.spaces.Box(0, 255, shape=(TILE, TILE, 3), dtype=np.uint8)
        self.action_space = gym.spaces.Discrete(n_symbols)
        self._symbols = np.zeros(lag + questions, dtype=np.int64)
        self._t = 0

    @property
    def chance(self) -> float:
        """The expected return of any policy that does not recall: 2/S − 1."""
        return 2.0 / self.n_symbols - 1.0

    def _obs(self) -> np.ndarray:
        s = int(self._symbols[self._t])
        if self.kind == "tiles":
            return self._tiles[s].copy()
        obs = np.zeros(self.n_symbols, dtype=np.float32)
        obs[s] = 1.0
        return obs

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._symbols = self.np_random.integers(0, self.n_symbols, size=self.lag + self.questions)
        self._t = 0
        return self._obs(), {"lag": self.lag}

    def step(self, action: int):
        reward = 0.0
        if self._t >= self.lag:
            right = int(action) == int(self._symbols[self._t - self.lag])
            reward = (1.0 if right else -1.0) / self.questions
        self._t += 1
        terminated = self._t == self.lag + self.questions
        space = self.observation_space
        obs = np.zeros(space.shape, dtype=space.dtype) if terminated else self._obs()
        return obs, reward, terminated, False, {"lag": self.lag}


for _lag in LAGS:
    for _kind, _name in (("onehot", "OneHot"), ("tiles", "Tiles")):
        _id = f"LagRecall-K{_lag}-{_name}-v0"
        if _id not in gym.registry:
            gym.register(
                _id,
                entry_point="helmrl.envs.lag_recall:LagRecallEnv",
                kwargs={"lag": _lag, "observation": _kind},
            )
LAG_RECALL = register_family(
    EnvFamily(
        name="lag-recall",
        prefixes=("LagRecall-",),
        description=(
            "LagRecall-K{1,2,4,8,16}-{OneHot,Tiles}-v0: at every step name the symbol seen k steps back "
            "(4 symbols, chance -0.5)"
        ),
        reward_norm=False,
    )
)
