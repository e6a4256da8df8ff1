"""The actor-critic head on [history, current]."""

from __future__ import annotations

import math

from torch import Tensor, nn

from .configs import HeadKind, OutputGain


def _orthogonal(layer: nn.Linear, gain: float) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class ActorCriticHead(nn.Module):
    """Two outputs on the same features: action logits and the state value.

    ``kind="layernorm"`` (the authors' code): actor Linear→128 · LayerNorm · ReLU · Linear→actions,
    critic Linear→512 · LayerNorm · ReLU · Linear→1; LayerNorm without affine, hidden layers
    orthogonal with gain √2.
    ``kind="linear"`` (Stable-Baselines3's CnnPolicy, CleanRL): one Linear per output on the features.

    ``output_gain``: orthogonal gain of the two output layers, "authors" = √2 on both (their
    ``orthogonal_init`` covers every Linear) or "small" = 0.01 on the logits and 1 on the value
    (CleanRL / SB3: a near-uniform initial policy).
    """

    def __init__(
        self, in_dim: int, n_actions: int, kind: HeadKind = "layernorm", output_gain: OutputGain = "authors"
    ):
        super().__init__()
        if kind not in ("layernorm", "linear"):
            raise ValueError(f"head kind {kind!r}: must be layernorm | linear")
        if output_gain not in ("authors", "small"):
            raise ValueError(f"output_gain {output_gain!r}: must be authors | small")
        g = math.sqrt(2)
        pi_gain, v_gain = (g, g) if output_gain == "authors" else (0.01, 1.0)
        if kind == "layernorm":
            self.actor = nn.Sequential(
                _orthogonal(nn.Linear(in_dim, 128), g),
                nn.LayerNorm(128, elementwise_affine=False),
                nn.ReLU(),
                _orthogonal(nn.Linear(128, n_actions), pi_gain),
            )
            self.critic = nn.Sequential(
                _orthogonal(nn.Linear(in_dim, 512), g),
                nn.LayerNorm(512, elementwise_affine=False),
                nn.ReLU(),
                _orthogonal(nn.Linear(512, 1), v_gain),
            )
        else:
            self.actor = nn.Sequential(_orthogonal(nn.Linear(in_dim, n_actions), pi_gain))
            self.critic = nn.Sequential(_orthogonal(nn.Linear(in_dim, 1), v_gain))

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """-> (action logits (B, A), value (B,))."""
        return self.actor(features), self.critic(features).squeeze(-1)
