"""Register helmrl's own envs with gymnasium (runs on `import helmrl`)."""

from __future__ import annotations

import gymnasium as gym


def register_envs() -> None:
    if "CueMemory-v0" not in gym.registry:
        gym.register("CueMemory-v0", entry_point="helmrl.envs.cue_memory:CueMemoryEnv")
