"""One builder from a run's config to what acts: the vector envs, wrapped as the agent needs, and
the agent. Training, evaluation, videos and analyses all build through it, so a setting can never
be honoured by one of them and forgotten by another.

The order is fixed, because it fixes the draws of torch's global RNG: seed torch with the run's
seed, make the envs, record their episode statistics and scale the rewards (training only),
build the frozen history stage (agents that read ``"history"``) and wrap the envs in
``FrozenHistoryObservation``, then build the agent.
"""

from __future__ import annotations

import torch
from gymnasium.vector import VectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics
from torch import nn

from .config import TrainConfig
from .devices import resolve_device
from .envs import ScaleReward, default_reward_norm, find_wrapper, make_vec_env
from .models.agents import Agent, agent_class
from .observation_keys import OBSERVATION


def uses_reward_norm(cfg: TrainConfig) -> bool:
    """``reward_norm`` resolved: "auto" is on for MiniGrid and Procgen, off for RandomMaze."""
    return default_reward_norm(cfg.env_id) if cfg.ppo.reward_norm == "auto" else cfg.ppo.reward_norm == "on"


def eval_env_count(cfg: TrainConfig, wanted: int) -> int:
    """How many envs to play a run with: ``wanted``, except where the run's history stage
    standardises its inputs over the envs of a step (HELMv2), which must see as many envs as it
    trained with, or its LM reads the batch mean at every step."""
    return cfg.n_envs if cfg.history.couples_envs else wanted


def build(
    cfg: TrainConfig,
    n_envs: int | None = None,
    *,
    training: bool = False,
    device: torch.device | str | None = None,
    lm_model: nn.Module | None = None,
    lm_memory=None,
) -> tuple[VectorEnv, Agent]:
    """The envs and the agent ``cfg`` describes, on ``device`` (default: ``cfg.device``).

    ``n_envs``: default ``cfg.n_envs``. ``training``: the trainer's envs, with ``cfg.vec_env``,
    the reward scaler where reward normalisation is on and, under ``bootstrap_truncated``, the
    histories of final observations; otherwise in-process envs with the envs' own rewards.
    ``lm_model``: an LM module in place of loading ``cfg.history.lm``; ``lm_memory``: n_envs -> the LM
    memory to step, in place of this process's own (a seed group's members get the shared one)."""
    from .frozen.history_stage import build_history_stage
    from .wrappers import FrozenHistoryObservation

    dev = resolve_device(cfg.device if device is None else str(device))
    torch.manual_seed(cfg.seed)
    n = cfg.n_envs if n_envs is None else n_envs
    envs = make_vec_env(cfg.env_id, n, vec_env=cfg.vec_env if training else "sync")
    if training:  # the envs' own returns, beneath any reward scaler
        envs = RecordEpisodeStatistics(envs)
    if training and uses_reward_norm(cfg):
        envs = ScaleReward(envs, cfg.ppo.gamma)
    obs_shape = envs.single_observation_space.shape
    n_actions = int(envs.single_action_space.n)
    agent_cls = agent_class(cfg.agent)
    history_dim = 0
    if agent_cls.uses_history:
        stage = build_history_stage(cfg.history, obs_shape, dev, lm_model)
        if lm_memory is not None:
            stage.memory_factory = lm_memory
        final = "truncated" if training and cfg.ppo.bootstrap_truncated else False  # what bootstraps read
        envs = FrozenHistoryObservation(envs, stage, dev, final_history=final, device_histories=True)
        history_dim = stage.out_dim
    agent = agent_cls.from_config(cfg.net, obs_shape, n_actions, history_dim)
    return envs, agent.to(dev)


def history_stage(envs: VectorEnv) -> nn.Module | None:
    """The frozen history stage the envs are wrapped with (None where they are not)."""
    from .wrappers import FrozenHistoryObservation

    wrapper = find_wrapper(envs, FrozenHistoryObservation)
    return None if wrapper is None else wrapper.frozen_history


def observation_shape(envs: VectorEnv) -> tuple[int, ...]:
    """The shape of one env's observation, under a ``FrozenHistoryObservation`` or not."""
    space = envs.single_observation_space
    return tuple(space[OBSERVATION].shape if hasattr(space, "spaces") else space.shape)
