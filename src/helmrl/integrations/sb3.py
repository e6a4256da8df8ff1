"""HELM's memory inside Stable-Baselines3 (``pip install 'helmrl[sb3]'``).

* ``FrozenHistoryVecEnv`` wraps an SB3 ``VecEnv``: observations become a Dict of the original
  observation and ``"history"``; each env's memory is cleared on the step its episode ends (SB3's
  VecEnvs reset on that step), and ``info["terminal_observation"]`` carries the history the episode
  closes with, so SB3's time-limit bootstrap sees the right value input.
* ``HELMExtractor`` is a features extractor for ``MultiInputPolicy``: [history, CNN(image)], the
  input of HELM's actor-critic head; the CNN is the authors' small Impala.

    venv = FrozenHistoryVecEnv(make_vec_env(...), HistoryConfig(mem_len=512))
    PPO("MultiInputPolicy", venv, policy_kwargs=dict(features_extractor_class=HELMExtractor))
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from torch import nn

from ..frozen.frozen_history import FrozenHistory, HistoryConfig
from ..models.encoders import MLPEncoder, SmallImpalaCNN
from ..wrappers import HISTORY, HistoryStream


class FrozenHistoryVecEnv(VecEnvWrapper):
    """Adds HELM's frozen history to an SB3 VecEnv's observations (see the module docstring)."""

    def __init__(
        self,
        venv: VecEnv,
        history: FrozenHistory | HistoryConfig | None = None,
        device: torch.device | str = "cpu",
    ):
        self.stream = HistoryStream(venv.observation_space, venv.num_envs, history, device)
        super().__init__(venv, observation_space=self.stream.observation_space(venv.observation_space))

    @property
    def frozen_history(self) -> FrozenHistory:
        return self.stream.stage

    def reset(self) -> dict[str, np.ndarray]:
        obs = self.venv.reset()
        self.stream.reset()
        return self.stream.join(obs, self.stream.step(obs, np.ones(self.num_envs, dtype=bool)))

    def step_wait(self) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, rewards, dones, infos = self.venv.step_wait()
        dones = np.asarray(dones, dtype=bool)
        ended = {
            int(i): infos[i]["terminal_observation"]
            for i in np.flatnonzero(dones)
            if "terminal_observation" in infos[i]
        }
        if ended:  # the terminal observations' histories, before the memory moves on
            for i, terminal in self.stream.terminal(ended, others=obs).items():
                infos[i]["terminal_observation"] = terminal
        return self.stream.join(obs, self.stream.step(obs, dones)), rewards, dones, infos


class HELMExtractor(BaseFeaturesExtractor):
    """[history, encoder(observation)]: HELM's head input. Images (channel-first after SB3's
    VecTransposeImage, scaled to [0, 1] by SB3) go through the authors' small Impala CNN (channel
    scale 4, 1024 features), vectors through a two-layer MLP."""

    def __init__(self, observation_space: gym.spaces.Dict, features: int = 1024, channel_scale: int = 4):
        keys = [k for k in observation_space.spaces if k != HISTORY]
        if HISTORY not in observation_space.spaces or len(keys) != 1:
            raise ValueError(
                "HELMExtractor needs a Dict of 'history' and one observation, got keys "
                f"{list(observation_space.spaces)}"
            )
        self.key = keys[0]
        space = observation_space.spaces[self.key]
        history_dim = observation_space.spaces[HISTORY].shape[0]
        if len(space.shape) == 3:
            c, h, w = space.shape
            encoder: nn.Module = SmallImpalaCNN((h, w, c), channel_scale, features)
            self._image = True
        else:
            encoder = MLPEncoder(int(np.prod(space.shape)), features)
            self._image = False
        super().__init__(observation_space, history_dim + encoder.out_dim)
        self.encoder = encoder

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        x = observations[self.key]
        current = self.encoder.fc(self.encoder.convs(x)) if self._image else self.encoder(x)
        return torch.cat([observations[HISTORY], current], dim=1)
