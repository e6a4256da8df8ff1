"""HELM: [frozen LM history, CNN(current obs)] → actor-critic head.

Only the CNN and the head train. The history (the frozen LM's output for the whole episode so
far) is an *input*: the trainer's history stage (``helmrl.models.frozen_history``) computes it
once per observation and stores it in the rollout, so PPO epochs never run the LM.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..encoders import make_encoder
from ..heads import ActorCriticHead
from .base import Agent, NetConfig, State, register_agent


@register_agent("helm")
class HELMAgent(Agent):
    description = "HELM: frozen LM history (FrozenHopfield + PLT) + CNN of the current obs"
    uses_history = True

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

    def forward(self, obs: Tensor, history: Tensor | None, state: State, episode_start: Tensor):
        if history is None:
            raise ValueError("HELM needs the frozen history as input (the trainer's history stage)")
        logits, value = self.head(torch.cat([history, self.encoder(obs)], dim=1))
        return logits, value, state
