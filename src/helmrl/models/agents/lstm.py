"""Impala-PPO: small Impala CNN (scale 1, 256 features) → LSTM(256) → head, from scratch."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...observation_keys import OBSERVATION
from ..encoders import make_encoder
from ..heads import ActorCriticHead
from .base import Agent, NetConfig, Observation, State, register_agent


@register_agent("lstm")
class LSTMAgent(Agent):
    """The state (h, c) is zeroed at episode starts (multiplied by 1 - start); the update
    replays each env's rollout from the state the rollout started with.

    ``net.lstm_skip``: the head reads [h_t, CNN(o_t)] instead of h_t alone, HELM's [history,
    current] layout with a trained memory; the LSTM's output at the start of training is a blend
    of the recent inputs (gates near 0.5), so without the skip the head sees the current
    observation only through that blend."""

    description = "Impala-PPO: CNN + LSTM trained from scratch (memory baseline)"
    recurrent = True

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        n_actions: int,
        hidden: int = 256,
        channel_scale: int = 1,
        net: NetConfig = NetConfig(),  # noqa: B008 - frozen dataclass
    ):
        super().__init__()
        self.encoder = make_encoder(obs_shape, channel_scale, hidden, net.encoder)
        # LSTMCell, not nn.LSTM: the update steps one timestep at a time (to zero the state at
        # episode starts), and per-step nn.LSTM calls are ~6x slower to backpropagate on CPU.
        self.lstm = nn.LSTMCell(self.encoder.out_dim, hidden)
        for name, p in self.lstm.named_parameters():
            if "bias" in name:
                nn.init.zeros_(p)
            else:
                nn.init.orthogonal_(p, 1.0)
        self.skip = net.lstm_skip
        head_in = hidden + (self.encoder.out_dim if self.skip else 0)
        self.head = ActorCriticHead(head_in, n_actions, net.head, net.output_gain)
        self.hidden = hidden

    @classmethod
    def from_config(
        cls, net: NetConfig, obs_shape: tuple[int, ...], n_actions: int, history_dim: int
    ) -> LSTMAgent:
        return cls(obs_shape, n_actions, net=net)

    def initial_state(self, n_envs: int) -> State:
        device = self.head.actor[0].weight.device
        zeros = torch.zeros(n_envs, self.hidden, device=device)
        return {"h": zeros, "c": zeros.clone()}

    def _cell(self, feat: Tensor, state: State, episode_start: Tensor) -> State:
        keep = (~episode_start.bool()).to(feat.dtype)[:, None]
        h, c = self.lstm(feat, (state["h"] * keep, state["c"] * keep))
        return {"h": h, "c": c}

    def forward(self, obs: Observation, state: State, episode_start: Tensor):
        feat = self.encoder(obs[OBSERVATION])
        state = self._cell(feat, state, episode_start)
        logits, value = self.head(torch.cat([state["h"], feat], -1) if self.skip else state["h"])
        return logits, value, state

    def evaluate(self, obs: Observation, state: State, episode_start: Tensor):
        T, N = episode_start.shape
        image = obs[OBSERVATION]
        feats = self.encoder(image.reshape(T * N, *image.shape[2:])).view(T, N, -1)
        outs = []
        for t in range(T):
            state = self._cell(feats[t], state, episode_start[t])
            outs.append(state["h"])
        h = torch.stack(outs).view(T * N, -1)
        logits, value = self.head(torch.cat([h, feats.view(T * N, -1)], -1) if self.skip else h)
        return logits.view(T, N, -1), value.view(T, N)
