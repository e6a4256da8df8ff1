"""CueMemory-v0: the smallest task that needs memory, for checking agents end to end.

Step 0 shows a cue (one of two), the middle steps show nothing, the last step asks a question.
The action on the last step earns +1 if it names the cue, else 0; earlier actions do nothing.
A memoryless policy cannot beat 0.5 on average; an agent with working memory reaches 1.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from .families import EnvFamily, register_family


class CueMemoryEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, length: int = 3, render_mode: str | None = None):
        if length < 2:
            raise ValueError(f"length must be >= 2 (cue step and question step), got {length}")
        self.length, self.render_mode = length, render_mode
        # [cue is 0, cue is 1, question now]
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(3,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self._t, self._cue = 0, 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros(3, dtype=np.float32)
        if self._t == 0:
            obs[self._cue] = 1.0
        if self._t == self.length - 1:
            obs[2] = 1.0
        return obs

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._t, self._cue = 0, int(self.np_random.integers(2))
        return self._obs(), {}

    def step(self, action: int):
        last = self._t == self.length - 1
        reward = float(last and int(action) == self._cue)
        self._t += 1
        return (self._obs() if not last else np.zeros(3, dtype=np.float32)), reward, last, False, {}


if "CueMemory-v0" not in gym.registry:
    gym.register("CueMemory-v0", entry_point="helmrl.envs.cue_memory:CueMemoryEnv")
CUE_MEMORY = register_family(
    EnvFamily(
        name="diagnostic",
        prefixes=("CueMemory-",),
        description="CueMemory-v0: recall a cue shown at the first step (memory check)",
        reward_norm=False,
    )
)
