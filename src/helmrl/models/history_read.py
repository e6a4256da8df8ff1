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

``WindowRead`` (``history_read="window"``) has no softmax: the head reads every state of the
window in a slot of its own, read_t = [V(LN(h_{t−W+1})), …, V(LN(h_t))] (zeros before the
episode's start), with one small V shared by the slots. Attention's offsets compete: once its
weight sits on a near offset whose state still holds part of the answer (at lag 16, offset 15
holds step t − 16 at its own lag 1), the exact offset gets almost no gradient. Each slot here gets
its own. Its width, W × ``dim``, suits small windows.

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
        normed, ok = episode_windows(self.norm, states, episode_start, window, valid)
        keys, values = (slide(layer(normed), self.window) for layer in (self.key, self.value))
        return self._attend(self.query(query_features), keys, values, ok)


class WindowRead(nn.Module):
    """Every state of the window in a slot of its own: [V(LN(h_j)) for the last W steps j]."""

    def __init__(self, width: int, window: int, dim: int = 8):
        super().__init__()
        if window < 1:
            raise ValueError(f"the read's window must be >= 1 step, got {window}")
        self.window, self.out_dim = window, window * dim
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.value = nn.Linear(width, dim)

    def step(self, query_features: Tensor, window: Tensor, valid: Tensor) -> Tensor:
        """(B, W, m) window (this step's state last), (B, W) validity -> (B, W * dim); the
        features are unused (the signature is the attention read's)."""
        return (self.value(self.norm(window)) * valid[..., None]).flatten(-2)

    def sequence(
        self, query_features: Tensor, states: Tensor, episode_start: Tensor, window: Tensor, valid: Tensor
    ) -> Tensor:
        """(T, N) rollouts at once, as ``HistoryRead.sequence`` -> (T, N, W * dim)."""
        normed, ok = episode_windows(self.norm, states, episode_start, window, valid)
        return (slide(self.value(normed), self.window) * ok[..., None]).flatten(-2)


def episode_windows(
    norm: nn.Module, states: Tensor, episode_start: Tensor, window: Tensor, valid: Tensor
) -> tuple[Tensor, Tensor]:
    """The rollout's states after the window it started with, normed, (W + T, N, m), and which
    of step t's W window positions are of its episode, (T, N, W)."""
    W = window.shape[1]
    seq = torch.cat([window.transpose(0, 1), states], 0)  # position W + t is step t
    base = torch.cat([valid.transpose(0, 1), torch.ones_like(episode_start, dtype=torch.bool)], 0)
    position = torch.arange(seq.shape[0], device=states.device)
    latest = torch.where(episode_start.bool(), position[W:, None], -1).cummax(0).values  # (T, N)
    in_window = position.unfold(0, W, 1)[1:]  # (T, W): the positions step t reads
    ok = base.unfold(0, W, 1)[1:] & (in_window[:, None, :] >= latest[..., None])
    return norm(seq), ok


def slide(seq: Tensor, W: int) -> Tensor:
    """(W + T, N, d) -> (T, N, W, d): step t's window, oldest first."""
    return seq.unfold(0, W, 1)[1:].transpose(-1, -2)
