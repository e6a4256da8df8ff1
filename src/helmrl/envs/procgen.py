"""Procgen in memory mode, behind the gymnasium API: ``ProcgenMemory-<Game>-v0``.

Backed by the ``procgen2`` wheel (OpenAI's Procgen built for current Pythons) through its gym3
interface, which runs with numpy 2; ``make install`` installs it and its gym3/gym shims with
``--no-deps`` because their declared pins (numpy<2) are stricter than what this path needs.
distribution_mode="memory", num_levels=0 (unlimited levels), start_level=0, 64×64×3, 15 actions.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import gymnasium as gym
import numpy as np

from .families import EnvError, EnvFamily, register_family

MEMORY_GAMES = ("caveflyer", "dodgeball", "heist", "jumper", "maze", "miner")


def _gym3_env_class():
    try:
        # `import procgen` imports the retired `gym`, which prints a deprecation banner.
        with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from procgen import ProcgenGym3Env
    except ImportError as err:
        raise EnvError(
            f"Procgen is not installed ({err}); run `make install`, or "
            "`pip install --no-deps procgen2==0.10.7 gym3==0.3.3 gym==0.26.2 gym_notices cffi`"
        ) from None
    return ProcgenGym3Env


class ProcgenMemoryEnv(gym.Env):
    """One Procgen game in memory mode. Procgen starts the next episode by itself, so ``reset``
    without a seed just hands over the observation it already has."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15}

    def __init__(self, game: str, render_mode: str | None = None):
        if game not in MEMORY_GAMES:
            raise ValueError(f"{game!r} has no memory mode; choose from {', '.join(MEMORY_GAMES)}")
        self.game, self.render_mode = game, render_mode
        self.observation_space = gym.spaces.Box(0, 255, shape=(64, 64, 3), dtype=np.uint8)
        self.action_space = gym.spaces.Discrete(15)
        self._env = None
        self._obs = np.zeros((64, 64, 3), dtype=np.uint8)

    def _make(self, seed: int) -> None:
        cls = _gym3_env_class()
        self._env = cls(
            num=1,
            env_name=self.game,
            distribution_mode="memory",
            num_levels=0,
            start_level=0,
            rand_seed=int(seed) % (2**31 - 1),
        )
        _, obs, _ = self._env.observe()
        self._obs = obs["rgb"][0]

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if self._env is None or seed is not None:
            self._make(int(self.np_random.integers(2**31 - 1)))
        return self._obs.copy(), {}

    def step(self, action: int):
        self._env.act(np.array([int(action)], dtype=np.int32))
        reward, obs, first = self._env.observe()
        self._obs = obs["rgb"][0]
        return self._obs.copy(), float(reward[0]), bool(first[0]), False, {}

    def render(self) -> np.ndarray:
        return self._obs.copy()


def _register_ids() -> None:
    for game in MEMORY_GAMES:
        env_id = f"ProcgenMemory-{game.capitalize()}-v0"
        if env_id not in gym.registry:
            gym.register(env_id, entry_point="helmrl.envs.procgen:ProcgenMemoryEnv", kwargs={"game": game})


PROCGEN = register_family(
    EnvFamily(
        name="procgen",
        prefixes=("ProcgenMemory-",),
        description="Procgen memory mode (procgen2 via gym3), num_levels=0, 64x64x3, 15 actions",
        reward_norm=True,
        import_hook=_register_ids,
    )
)
_register_ids()
