"""CNN-PPO: the Markovian baseline (small Impala, channel scale 4, 1024 features)."""

from __future__ import annotations

from torch import Tensor

from ...observation_keys import OBSERVATION
from ..encoders import make_encoder
from ..heads import ActorCriticHead
from .base import Agent, NetConfig, Observation, State, register_agent


@register_agent("cnn")
class CNNAgent(Agent):
    description = "CNN-PPO: current observation only (Markovian baseline)"

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        n_actions: int,
        channel_scale: int = 4,
        features: int = 1024,
        net: NetConfig = NetConfig(),  # noqa: B008 - frozen dataclass
    ):
        super().__init__()
        self.encoder = make_encoder(obs_shape, channel_scale, features, net.encoder)
        self.head = ActorCriticHead(self.encoder.out_dim, n_actions, net.head, net.output_gain)

    @classmethod
    def from_config(
        cls, net: NetConfig, obs_shape: tuple[int, ...], n_actions: int, history_dim: int
    ) -> CNNAgent:
        return cls(obs_shape, n_actions, net=net)

    def forward(self, obs: Observation, state: State, episode_start: Tensor):
        logits, value = self.head(self.encoder(obs[OBSERVATION]))
        return logits, value, state
