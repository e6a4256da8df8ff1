"""Environments: the family registry, the factory, and helmrl's own envs (RandomMaze, Procgen
memory mode, CueMemory, CueRecall). Importing this package imports every module in it, so each
registers its family and ids: a new env family is one module dropped here."""

import importlib
import pkgutil

from .factory import (
    RewardScaler,
    adapt_observations,
    check_env_id,
    default_reward_norm,
    make_env,
    make_vec_env,
)
from .families import FAMILIES, EnvError, EnvFamily, family_of, register_family

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

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
