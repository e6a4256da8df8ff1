"""The actor-critic head on [history, current] (one hidden layer each, as in the authors' code)."""

from __future__ import annotations

import math

from torch import Tensor, nn


def _orthogonal(layer: nn.Linear, gain: float) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class ActorCriticHead(nn.Module):
    """actor: Linear→128 · LayerNorm · ReLU · Linear→actions; critic: Linear→512 · LayerNorm ·
    ReLU · Linear→1. LayerNorm without affine; orthogonal init, gain √2 on hidden layers and
    0.01 / 1 on the policy / value outputs (so the initial policy is near uniform)."""

    def __init__(self, in_dim: int, n_actions: int):
        super().__init__()
        g = math.sqrt(2)
        self.actor = nn.Sequential(
            _orthogonal(nn.Linear(in_dim, 128), g),
            nn.LayerNorm(128, elementwise_affine=False),
            nn.ReLU(),
            _orthogonal(nn.Linear(128, n_actions), 0.01),
        )
        self.critic = nn.Sequential(
            _orthogonal(nn.Linear(in_dim, 512), g),
            nn.LayerNorm(512, elementwise_affine=False),
            nn.ReLU(),
            _orthogonal(nn.Linear(512, 1), 1.0),
        )

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """-> (action logits (B, A), value (B,))."""
        return self.actor(features), self.critic(features).squeeze(-1)
