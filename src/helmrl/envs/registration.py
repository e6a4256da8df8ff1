"""Register helmrl's own envs with gymnasium (runs on `import helmrl`)."""

from __future__ import annotations

import gymnasium as gym

from .procgen import MEMORY_GAMES


def register_envs() -> None:
    if "CueMemory-v0" not in gym.registry:
        gym.register("CueMemory-v0", entry_point="helmrl.envs.cue_memory:CueMemoryEnv")
    if "RandomMaze-v0" not in gym.registry:
        gym.register("RandomMaze-v0", entry_point="helmrl.envs.random_maze:RandomMazeEnv")
    for game in MEMORY_GAMES:
        env_id = f"ProcgenMemory-{game.capitalize()}-v0"
        if env_id not in gym.registry:
            gym.register(env_id, entry_point="helmrl.envs.procgen:ProcgenMemoryEnv", kwargs={"game": game})
