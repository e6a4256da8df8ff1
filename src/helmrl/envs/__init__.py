"""Environments: factories for every family, RandomMaze, and the Procgen memory-mode adapter."""

from .factory import (
    EnvError,
    RewardScaler,
    check_env_id,
    default_reward_norm,
    env_family,
    make_env,
    make_vec_env,
)

__all__ = [
    "EnvError",
    "RewardScaler",
    "check_env_id",
    "default_reward_norm",
    "env_family",
    "make_env",
    "make_vec_env",
]
