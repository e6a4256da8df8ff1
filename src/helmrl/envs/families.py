"""Env families: how ids of one kind are registered, wrapped and reward-scaled.

A family is one ``EnvFamily`` registered with ``register_family`` in its own module
(``minigrid.py``, ``procgen.py``, ``random_maze.py``, ``cue_memory.py``); ids that no family
claims are plain gymnasium envs. The factory, ``helmrl envs`` and the reward-norm default read
this registry, so a new family is one new module plus its test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium as gym

from ..errors import EnvError as EnvError


@dataclass(frozen=True)
class EnvFamily:
    name: str
    #: id prefixes this family claims (e.g. "MiniGrid-")
    prefixes: tuple[str, ...]
    description: str
    #: the authors normalise rewards for MiniGrid and Procgen, not for RandomMaze
    reward_norm: bool = False
    #: observation wrappers applied to every env of the family
    wrap: Callable[[gym.Env], gym.Env] = field(default=lambda env: env)
    #: registers the family's ids with gymnasium (e.g. ``import minigrid``), run before lookups
    import_hook: Callable[[], None] = field(default=lambda: None)

    def claims(self, env_id: str) -> bool:
        return env_id.startswith(self.prefixes)

    def ids(self) -> list[str]:
        self.import_hook()
        return sorted(k for k in gym.registry if self.claims(k))


FAMILIES: dict[str, EnvFamily] = {}
GYMNASIUM = EnvFamily("gymnasium", (), "any registered gymnasium id (also `module:EnvId`)")


def register_family(family: EnvFamily) -> EnvFamily:
    FAMILIES[family.name] = family
    return family


def family_of(env_id: str) -> EnvFamily:
    """The family that claims ``env_id`` (a ``module:`` prefix is ignored), else plain gymnasium."""
    name = env_id.split(":", 1)[-1]
    for family in FAMILIES.values():
        if family.claims(name):
            return family
    return GYMNASIUM
