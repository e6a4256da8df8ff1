"""Environments: the family registry, the factory, and helmrl's own envs (RandomMaze, Procgen
memory mode, CueMemory). Importing this package registers their ids with gymnasium."""

from . import cue_memory, cue_recall, minigrid, procgen, random_maze  # noqa: F401 - register the families
from .factory import (
    RewardScaler,
    adapt_observations,
    check_env_id,
    default_reward_norm,
    make_env,
    make_vec_env,
)
from .families import FAMILIES, EnvError, EnvFamily, family_of, register_family

__all__ = [
    "FAMILIES",
    "EnvError",
    "EnvFamily",
    "RewardScaler",
    "adapt_observations",
    "check_env_id",
    "default_reward_norm",
    "family_of",
    "make_env",
    "make_vec_env",
    "register_family",
]
