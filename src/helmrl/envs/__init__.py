"""Environments: the family registry, the factory, and helmrl's own envs (RandomMaze, Procgen
memory mode, CueMemory, CueRecall). Importing this package imports every module in it, so each
registers its family and ids: a new env family is one module dropped here."""

from ..registry import import_submodules
from .factory import (
    adapt_observations,
    check_env_id,
    default_reward_norm,
    make_env,
    make_vec_env,
)
from .families import FAMILIES, EnvError, EnvFamily, family_of, register_family
from .reward_scaling import ScaleReward, find_wrapper

import_submodules(__name__, __path__)

__all__ = [
    "FAMILIES",
    "EnvError",
    "EnvFamily",
    "ScaleReward",
    "adapt_observations",
    "check_env_id",
    "default_reward_norm",
    "family_of",
    "find_wrapper",
    "make_env",
    "make_vec_env",
    "register_family",
]
