"""Vectorized environments by id, with each family's wrappers and gymnasium's conventions.

Observations reach the agents as an (H, W, C) uint8 image or a flat float vector. Like
Stable-Baselines3, Discrete / MultiDiscrete / MultiBinary observations are one-hot encoded and
Dict / Tuple spaces of vectors are flattened (gymnasium's ``FlattenObservation``); a Dict that
holds an image is refused with the wrapper to use.
"""

from __future__ import annotations

import difflib
import importlib
import os
from collections.abc import Callable

import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv, VectorEnv
from gymnasium.wrappers import FlattenObservation

from .families import FAMILIES, EnvError, family_of


def default_reward_norm(env_id: str) -> bool:
    return family_of(env_id).reward_norm


def check_env_id(env_id: str) -> str:
    """Import what ``env_id`` needs and return the registered id; raise EnvError naming the
    closest ids if it is unknown. ``module:EnvId`` imports ``module`` first, as gymnasium does."""
    name = env_id
    if ":" in env_id:
        module, name = env_id.split(":", 1)
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise EnvError(
                f"env id {env_id!r}: cannot import module {module!r} ({err}); pip install the package "
                "that provides it"
            ) from None
    family_of(name).import_hook()
    if name in gym.registry:
        return name
    for family in FAMILIES.values():
        family.import_hook()
    close = difflib.get_close_matches(name, list(gym.registry), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see `helmrl envs` for the known ids"
    raise EnvError(f"unknown env id {env_id!r}{hint}")


def _is_image(space: gym.Space) -> bool:
    return isinstance(space, gym.spaces.Box) and len(space.shape) == 3 and space.dtype == np.uint8


def adapt_observations(env_id: str, env: gym.Env) -> gym.Env:
    """Images and flat vectors pass; one-hot / flatten what SB3 would; refuse the rest."""
    if not isinstance(env.action_space, gym.spaces.Discrete):
        raise EnvError(
            f"{env_id}: action space {env.action_space} is not supported; helmrl needs Discrete actions"
        )
    space = env.observation_space
    if _is_image(space) or (isinstance(space, gym.spaces.Box) and len(space.shape) == 1):
        return env
    if isinstance(space, gym.spaces.Dict | gym.spaces.Tuple):
        subs = space.spaces.items() if isinstance(space, gym.spaces.Dict) else enumerate(space.spaces)
        images = [str(k) for k, s in subs if _is_image(s)]
        if images:
            raise EnvError(
                f"{env_id}: a {type(space).__name__} observation with an image ({', '.join(images)}) is not "
                f"supported; keep the image alone, e.g. gymnasium.wrappers.FilterObservation(env, "
                f"[{images[0]!r}]) then a TransformObservation to unpack it (MiniGrid: ImgObsWrapper)"
            )
    if isinstance(
        space,
        gym.spaces.Discrete
        | gym.spaces.MultiDiscrete
        | gym.spaces.MultiBinary
        | gym.spaces.Box
        | gym.spaces.Dict
        | gym.spaces.Tuple,
    ):
        return FlattenObservation(env)  # Discrete parts become one-hot vectors
    raise EnvError(
        f"{env_id}: observation space {space} is not supported; helmrl takes an (H, W, C) uint8 image, "
        "a vector, Discrete, or a Dict/Tuple of those without images"
    )


def make_env(env_id: str, render_mode: str | None = None) -> gym.Env:
    """One env with the family's observation wrappers (MiniGrid: 56×56×3 egocentric RGB)."""
    name = check_env_id(env_id)
    env = family_of(name).wrap(gym.make(name, render_mode=render_mode))
    return adapt_observations(env_id, env)


def use_async(vec_env: str, n_envs: int) -> bool:
    """'auto': one process per env where there are cores to spare (>= 8 CPUs, >= 8 envs);
    on a 2-core laptop the envs step in the trainer's process."""
    if vec_env == "auto":
        return (os.cpu_count() or 1) >= 8 and n_envs >= 8
    return vec_env == "async"


def make_vec_env(
    env_id: str,
    n_envs: int,
    render_mode: str | None = None,
    wrapper: Callable[[gym.Env], gym.Env] | None = None,
    vec_env: str = "sync",
) -> VectorEnv:
    """Same-step autoreset: on a terminal step the returned observation is already the next
    episode's first one, as the PPO loop (and CleanRL) expect. ``vec_env``: sync | async |
    auto (gymnasium's SyncVectorEnv or AsyncVectorEnv; both give the same transitions)."""
    check_env_id(env_id)

    def one() -> gym.Env:
        env = make_env(env_id, render_mode)
        return wrapper(env) if wrapper else env

    fns = [one for _ in range(n_envs)]
    if use_async(vec_env, n_envs):
        return AsyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)
    return SyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)
