"""CueRecall-v0: recall a cue shown at a random step, ``delay`` steps later, among distractors.

Why it needs memory several steps back: the cue (one of two) appears once, at a random step
after the first, and the question comes exactly ``delay`` steps later; every other step shows one
of two distractor patterns at random. The action on the question step earns +1 if it names the
cue. A memoryless policy cannot beat 0.5; a memory that keeps the observation ``delay`` steps
back reaches 1. The cue is never the episode's first step, so it cannot sit in an attention sink
(HELM's memory always keeps the first ``n_sink`` steps), unlike CueMemory-v0.

Observation (5 floats, one-hot): [cue 0, cue 1, question, distractor 0, distractor 1].
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from .families import EnvFamily, register_family


class CueRecallEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, delay: int = 4, max_cue_step: int = 6, render_mode: str | None = None):
        if delay < 1 or max_cue_step < 1:
            raise ValueError(f"delay and max_cue_step must be >= 1, got {delay}, {max_cue_step}")
        self.delay, self.max_cue_step, self.render_mode = delay, max_cue_step, render_mode
        self.observation_space = gym.spaces.Box(0.0, 1.0, shape=(5,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self._t = self._cue_step = self._cue = 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros(5, dtype=np.float32)
        if self._t == self._cue_step:
            obs[self._cue] = 1.0
        elif self._t == self._cue_step + self.delay:
            obs[2] = 1.0
        else:
            obs[3 + int(self.np_random.integers(2))] = 1.0
        return obs

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._t = 0
        self._cue_step = int(self.np_random.integers(1, self.max_cue_step + 1))
        self._cue = int(self.np_random.integers(2))
        return self._obs(), {}

    def step(self, action: int):
        question = self._t == self._cue_step + self.delay
        reward = float(question and int(action) == self._cue)
        self._t += 1
        obs = np.zeros(5, dtype=np.float32) if question else self._obs()
        return obs, reward, question, False, {}


for _id, _delay in (("CueRecall-Short-v0", 2), ("CueRecall-v0", 4), ("CueRecall-Long-v0", 8)):
    if _id not in gym.registry:
        gym.register(_id, entry_point="helmrl.envs.cue_recall:CueRecallEnv", kwargs={"delay": _delay})
CUE_RECALL = register_family(
    EnvFamily(
        name="recall",
        prefixes=("CueRecall-",),
        description=(
            "CueRecall-Short-v0 / -v0 / -Long-v0: name a cue seen 2 / 4 / 8 steps back among distractors"
        ),
        reward_norm=False,
    )
)
