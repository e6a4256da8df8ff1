"""HELM: [frozen LM history, CNN(current obs)] → actor-critic head.

Only the CNN and the head train. The history (the frozen LM's output for the whole episode so
far) is an *input*, ``obs["history"]``: ``helmrl.wrappers.FrozenHistoryObservation`` computes it once
per observation, and the trainer stores it in the rollout, so PPO epochs never run the LM.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ...observation_keys import HISTORY, OBSERVATION
from ..encoders import make_encoder
from ..heads import ActorCriticHead
from .base import Agent, NetConfig, Observation, State, register_agent


@register_agent("helm")
class HELMAgent(Agent):
    description = "HELM: frozen LM history (FrozenHopfield + PLT) + CNN of the current obs"
    obs_keys = (HISTORY, OBSERVATION)

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        n_actions: int,
        history_dim: int,
        channel_scale: int = 4,
        features: int = 1024,
        net: NetConfig = NetConfig(),  # noqa: B008 - frozen dataclass
    ):
        super().__init__()
        if history_dim <= 0:
            raise ValueError(f"HELM needs a history of positive width, got {history_dim}")
        self.encoder = make_encoder(obs_shape, channel_scale, features, net.encoder)
        self.head = ActorCriticHead(history_dim + self.encoder.out_dim, n_actions, net.head, net.output_gain)

    @classmethod
    def from_config(
        cls, net: NetConfig, obs_shape: tuple[int, ...], n_actions: int, history_dim: int
    ) -> HELMAgent:
        return cls(obs_shape, n_actions, history_dim, net=net)

    def forward(self, obs: Observation, state: State, episode_start: Tensor):
        if HISTORY not in obs:
            raise ValueError(
                "HELM reads obs['history']: wrap its env in helmrl.wrappers.FrozenHistoryObservation"
            )
        logits, value = self.head(torch.cat([obs[HISTORY], self.encoder(obs[OBSERVATION])], dim=1))
        return logits, value, state
