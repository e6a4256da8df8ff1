"""FrozenHopfield: map any observation to a convex combination of token embeddings.

Paper (Paischer et al. 2022, eq. 1):  x_t = Eᵀ softmax(β · E P o_t)

with E (k × m) the frozen LM's token embeddings and P (m × n) a fixed random projection.
Defaults follow the authors' code rather than the paper's text:

* similarity is the cosine between P·o and each row of E (``similarity="cosine"``), so the
  scale of P is irrelevant; ``similarity="dot"`` gives the paper's plain inner product;
* P has entries with std 1/√m (``projection_scale="code"``); the paper writes variance n/m
  (``projection_scale="paper"``), which only matters for ``"dot"``;
* β = 100.

Nothing here is trainable: E and P are buffers, so an optimizer never sees them.

Precision: the logits β · sim are always computed in fp32. A bf16 similarity (spacing 2⁻⁸
just below 1, plus the GEMM's rounding) is off by ~1e-3, which β = 1000 turns into a logit
error near 1: enough to change the softmax's winner. ``dtype`` applies only to the value
product Eᵀ w, whose rounding is that of one GEMM in that dtype.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

Similarity = Literal["cosine", "dot"]


class FrozenHopfield(nn.Module):
    """Hopfield retrieval of token embeddings with a random projection as the query."""

    def __init__(
        self,
        embeddings: Tensor,
        obs_dim: int,
        beta: float,
        similarity: Similarity = "cosine",
        seed: int = 0,
        projection_scale: Literal["code", "paper"] = "code",
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if embeddings.ndim != 2:
            raise ValueError(f"embeddings must be a (k, m) matrix, got shape {tuple(embeddings.shape)}")
        if obs_dim <= 0:
            raise ValueError(f"obs_dim must be positive, got {obs_dim}")
        if not beta > 0:
            raise ValueError(f"beta must be > 0 (use a large value such as 1e6 for β→∞), got {beta}")
        if similarity not in ("cosine", "dot"):
            raise ValueError(f"similarity must be 'cosine' or 'dot', got {similarity!r}")
        if projection_scale not in ("code", "paper"):
            raise ValueError(f"projection_scale must be 'code' or 'paper', got {projection_scale!r}")
        k, m = embeddings.shape
        self.beta = float(beta)
        self.similarity = similarity
        self.obs_dim = obs_dim
        dtype = dtype or embeddings.dtype
        std = 1.0 / math.sqrt(m) if projection_scale == "code" else math.sqrt(obs_dim / m)
        gen = torch.Generator().manual_seed(seed)
        proj = torch.randn(m, obs_dim, generator=gen, dtype=torch.float32) * std
        emb = embeddings.detach().to(torch.float32)
        keys = emb / emb.norm(dim=1, keepdim=True).clamp_min(1e-12) if similarity == "cosine" else emb
        # Stored transposed so that forward is two plain GEMMs: (B,n)@(n,m), (B,m)@(m,k).
        self.register_buffer("projection_t", proj.t().contiguous())  # fp32: exact logits
        self.register_buffer("keys_t", keys.t().contiguous())  # (m, k), normalised, fp32
        self.register_buffer("embeddings", emb.contiguous().to(dtype))  # (k, m), values

    @torch.no_grad()
    def logits(self, obs: Tensor) -> Tensor:
        """β · sim(E, P o) for a batch of flat observations: (B, n) -> (B, k), fp32."""
        if obs.ndim != 2 or obs.shape[1] != self.obs_dim:
            raise ValueError(f"expected observations of shape (B, {self.obs_dim}), got {tuple(obs.shape)}")
        query = obs.float() @ self.projection_t
        if self.similarity == "cosine":
            query = query / query.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return (query @ self.keys_t) * self.beta

    @torch.no_grad()
    def weights(self, obs: Tensor) -> Tensor:
        """softmax(β · sim): the retrieval's weight on every token, (B, k); rows sum to 1."""
        return torch.softmax(self.logits(obs), dim=1)

    @torch.no_grad()
    def forward(self, obs: Tensor) -> Tensor:
        """x = Eᵀ softmax(β · sim(E, P o)): (B, n) -> (B, m), a point in the convex hull of E."""
        return self.weights(obs).to(self.embeddings.dtype) @ self.embeddings

    def encode(self, obs: Tensor) -> Tensor:
        """The history stage's input map: raw observations (B, ...) -> x (B, m)."""
        return self(observation_to_vector(obs.to(self.embeddings.device)))

    def lm_inputs(self, x: Tensor) -> Tensor:
        """Nothing after the per-observation part: x is the LM's input."""
        return x

    @torch.no_grad()
    def nearest_tokens(self, obs: Tensor) -> Tensor:
        """The token that β→∞ retrieves: argmax of the weights, (B,) token ids."""
        return self.logits(obs).argmax(dim=1)


def observation_to_vector(obs: Tensor) -> Tensor:
    """FrozenHopfield's input: images scaled to [0, 1], averaged over the *colour* axis (the last
    one, channel-last) and flattened to H·W; vectors pass through as float."""
    if obs.ndim == 4:
        return (obs.float() / 255.0).mean(dim=-1).flatten(1)
    return obs.float().flatten(1)
