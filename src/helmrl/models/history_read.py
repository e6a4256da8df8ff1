"""A trainable read of HELM's frozen history: attention over the episode's recent LM states.

The paper's HELM reads one vector, the LM's state at the current step, h_t. The LM's states of
the earlier steps exist too (the history stage computes one per step), and a trainable read may
look back at them while the LM and FrozenHopfield stay frozen:

    read_t = Σ_j α_j · V(LN(h_j)),   α = softmax_j( q_t · K(LN(h_j)) / √d + b[t − j] ),

over the last W steps j of the current episode (masked before its start), with the query
q_t = Q(CNN(o_t)) from the current observation and a learned bias b per steps-back, so that
"exactly k steps back" is one parameter away. LN is a LayerNorm without affine, since the LM's
states carry a few huge dimensions.

The bias is b = g · θ, the parameter θ (``offset_bias``) times a fixed gain g (``offset_gain``).
Adam moves each parameter by at most about its learning rate per update, whatever the gradient's
size, and attention that picks one of W = 32 states needs a bias gap of about 5.6 logits
(e^5.6 / (e^5.6 + 31) ≈ 0.9). At lr 3e-4 a plain bias (g = 1) gets there after > 18,000
updates; a 200k-step LagRecall run makes 3,136, and its learned b[4] stood at 1.3 with the
attention still diffuse. With g = 32 the gap is ~600 updates away, while the other weights keep
the trainer's learning rate.

The read is the agent's recurrent state in the trainer's sense (the window of the last W states
and their validity), but exact, not truncated: the states are frozen inputs, so the PPO update
recomputes the read from the stored states of the rollout and the W − 1 before it (the state the
rollout started with), never from a stored window per sample.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class HistoryRead(nn.Module):
    def __init__(self, width: int, query_dim: int, window: int, dim: int = 64, offset_gain: float = 32.0):
        super().__init__()
        if window < 1:
            raise ValueError(f"the read's window must be >= 1 step, got {window}")
        self.window, self.dim, self.out_dim, self.offset_gain = window, dim, dim, offset_gain
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.key, self.value = nn.Linear(width, dim), nn.Linear(width, dim)
        self.query = nn.Linear(query_dim, dim)
        #: b[k] / offset_gain: the score bias of the state k steps back (0 = this step)
        self.offset_bias = nn.Parameter(torch.zeros(window))

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, valid: Tensor) -> Tensor:
        """q (..., d), k and v (..., W, d) with the oldest first, valid (..., W) -> (..., d)."""
        bias = self.offset_gain * self.offset_bias.flip(0)
        scores = (k @ q[..., None]).squeeze(-1) / math.sqrt(self.dim) + bias
        weights = torch.softmax(scores.masked_fill(~valid, float("-inf")), dim=-1)
        return (weights[..., None] * v).sum(-2)

    def step(self, query_features: Tensor, window: Tensor, valid: Tensor) -> Tensor:
        """One step: (B, f) features, the (B, W, m) window (this step's state last), (B, W) -> (B, d)."""
        states = self.norm(window)
        return self._attend(self.query(query_features), self.key(states), self.value(states), valid)

    def sequence(
        self, query_features: Tensor, states: Tensor, episode_start: Tensor, window: Tensor, valid: Tensor
    ) -> Tensor:
        """Every step of (T, N) rollouts at once: features (T, N, f), the rollout's states (T, N, m),
        starts (T, N), and the (N, W, m) window and (N, W) validity the rollout started with
        -> (T, N, d), what ``step`` gives step by step."""
        T, N = episode_start.shape
        W = self.window
        seq = torch.cat([window.transpose(0, 1), states], 0)  # (W + T, N, m): position W + t is step t
        base = torch.cat([valid.transpose(0, 1), torch.ones_like(episode_start, dtype=torch.bool)], 0)
        normed = self.norm(seq)
        keys = self.key(normed).unfold(0, W, 1)[1:].transpose(-1, -2)  # (T, N, W, d): step t's window
        values = self.value(normed).unfold(0, W, 1)[1:].transpose(-1, -2)
        position = torch.arange(W + T, device=states.device)
        latest = torch.where(episode_start.bool(), position[W:, None], -1).cummax(0).values  # (T, N)
        in_window = position.unfold(0, W, 1)[1:]  # (T, W): the positions step t reads
        ok = base.unfold(0, W, 1)[1:] & (in_window[:, None, :] >= latest[..., None])
        return self._attend(self.query(query_features), keys, values, ok)
