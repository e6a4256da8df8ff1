"""HELM: [frozen LM history, CNN(current obs)] → actor-critic head.

Only the CNN and the head train. The history (the frozen LM's output for the whole episode so
far) is an *input*, ``obs["history"]``: ``helmrl.wrappers.FrozenHistoryObservation`` computes it once
per observation, and the trainer stores it in the rollout, so PPO epochs never run the LM.

``history_read="attention"`` (or ``"window"``) adds a trainable read of the episode's recent LM states
(``helmrl.models.history_read``): the head then sees [h_t, read_t, CNN(o_t)], and the agent is
recurrent in the trainer's sense (its state is the window of recent states).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ...observation_keys import HISTORY, OBSERVATION
from ..encoders import make_encoder
from ..heads import ActorCriticHead
from ..history_read import HistoryRead, WindowRead
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
        self.read = None
        if net.history_read == "attention":
            self.read = HistoryRead(
                history_dim, self.encoder.out_dim, net.read_window, offset_gain=net.read_offset_gain
            )
            self.recurrent = True  # the window is carried from step to step and replayed by evaluate
        elif net.history_read == "window":
            self.read = WindowRead(history_dim, net.read_window)
            self.recurrent = True
        elif net.history_read != "last":
            raise ValueError(f"history_read must be last, attention or window, got {net.history_read!r}")
        width = history_dim + self.encoder.out_dim + (self.read.out_dim if self.read else 0)
        self.head = ActorCriticHead(width, n_actions, net.head, net.output_gain)
        self.history_dim = history_dim

    @classmethod
    def from_config(
        cls, net: NetConfig, obs_shape: tuple[int, ...], n_actions: int, history_dim: int
    ) -> HELMAgent:
        return cls(obs_shape, n_actions, history_dim, net=net)

    def initial_state(self, n_envs: int) -> State:
        if self.read is None:
            return {}
        device = self.head.actor[0].weight.device
        window = torch.zeros(n_envs, self.read.window, self.history_dim, device=device)
        return {
            "window": window,
            "valid": torch.zeros(n_envs, self.read.window, dtype=torch.bool, device=device),
        }

    def forward(self, obs: Observation, state: State, episode_start: Tensor):
        if HISTORY not in obs:
            raise ValueError(
                "HELM reads obs['history']: wrap its env in helmrl.wrappers.FrozenHistoryObservation"
            )
        history, features = obs[HISTORY], self.encoder(obs[OBSERVATION])
        if self.read is None:
            logits, value = self.head(torch.cat([history, features], dim=1))
            return logits, value, state
        keep = ~episode_start.bool().to(history.device)
        window = torch.cat([state["window"][:, 1:], history[:, None]], 1)
        fresh = torch.ones_like(keep)[:, None]
        valid = torch.cat([state["valid"][:, 1:] & keep[:, None], fresh], 1)
        read = self.read.step(features, window, valid)
        logits, value = self.head(torch.cat([history, read, features], dim=1))
        return logits, value, {"window": window, "valid": valid}

    def evaluate(self, obs: Observation, state: State, episode_start: Tensor):
        if self.read is None:
            return super().evaluate(obs, state, episode_start)
        T, N = episode_start.shape
        image = obs[OBSERVATION]
        features = self.encoder(image.reshape(T * N, *image.shape[2:])).view(T, N, -1)
        read = self.read.sequence(features, obs[HISTORY], episode_start, state["window"], state["valid"])
        logits, value = self.head(torch.cat([obs[HISTORY], read, features], dim=-1).view(T * N, -1))
        return logits.view(T, N, -1), value.view(T, N)


# HELMv2 and SHELM train HELM's networks; only their frozen stage differs: their LM reads CLIP's
# image features rescaled to its embeddings, or CLIP's top-k tokens, in place of FrozenHopfield's
# retrievals (``helmrl.frozen.vision_inputs``; the agent's name picks it: helmrl.config.INPUT_MAPS).
register_agent("helmv2", "HELMv2: frozen LM history of CLIP image features rescaled to its embeddings + CNN")(
    HELMAgent
)
register_agent("shelm", "SHELM: frozen LM history of CLIP's top-k tokens per observation (readable) + CNN")(
    HELMAgent
)
