"""HELMv2's input map: image features, standardised over the batch of envs, then rescaled to the
statistics of the LM's token embeddings.

    g = W f                           f: (B, d) CLIP image features; W: (m, d), frozen
    z = (g - mean_B g) / std_B g      per dimension, over the B envs of this step
    x = μ_E + σ_E ⊙ z                 μ_E, σ_E: per-dimension mean and std of E over the vocabulary

so each input dimension has, across the envs, the mean and spread of a token embedding in that
dimension. Nothing is learned and no statistic is carried between steps (as the authors' code).
Standardising over the batch couples the envs: an env's input depends on what the others see,
so a run is evaluated with as many envs as it trained with. A batch of one env (or a dimension
that does not vary) gives z = 0 there: x = μ_E, not NaN (the std is the population std).

The width map W. The authors' widths matched (RN50's 1024 = TransformerXL's 1024) and W = I;
that is kept when d = m. Otherwise W is a fixed random matrix with orthonormal columns (d < m,
ViT-B/16's 512 into SmolLM2's 576: WᵀW = I) or rows (d > m, e.g. 768 or 1024 into 576: WWᵀ = I),
drawn from the seed by a QR of a Gaussian. Why this map:

* it keeps the features' geometry: an isometry when d ≤ m (inner products of features exactly),
  and for d > m an orthogonal projection onto a random subspace, which keeps pairwise distances
  up to a common scale (Johnson-Lindenstrauss; the standardisation removes the scale);
* it spreads the signal over every LM dimension: zero-padding 512 to 576 would leave 64 input
  dimensions constant (μ_E for every observation), truncating 768 to 576 would drop a quarter
  of the features outright;
* it needs no data and no training (a PCA would make the map depend on a calibration set): a
  pure function of the seed, like FrozenHopfield's projection P;
* it comes before the standardisation, so the statistics above hold exactly in the LM's width.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def width_map(in_dim: int, out_dim: int, seed: int = 0) -> Tensor:
    """W (out_dim, in_dim): the identity when the widths match, else orthonormal columns
    (in_dim < out_dim) or rows (in_dim > out_dim), from a seeded Gaussian's QR."""
    if in_dim == out_dim:
        return torch.eye(out_dim)
    gen = torch.Generator().manual_seed(seed + 5_555)
    tall = torch.randn(max(in_dim, out_dim), min(in_dim, out_dim), generator=gen, dtype=torch.float64)
    q, r = torch.linalg.qr(tall)
    q = q * torch.sign(torch.diagonal(r))  # a unique Q: Haar-distributed columns
    return (q if out_dim > in_dim else q.t()).float().contiguous()


class EmbeddingRescale(nn.Module):
    """x = μ_E + σ_E ⊙ standardise_B(W f); see the module docstring. Buffers only: nothing trains."""

    def __init__(self, embeddings: Tensor, in_dim: int, seed: int = 0, eps: float = 1e-6):
        super().__init__()
        if embeddings.ndim != 2:
            raise ValueError(f"embeddings must be a (k, m) matrix, got shape {tuple(embeddings.shape)}")
        emb = embeddings.detach().float()
        self.in_dim, self.out_dim, self.eps = in_dim, emb.shape[1], eps
        self.register_buffer("map_t", width_map(in_dim, self.out_dim, seed).t().contiguous())  # (d, m)
        self.register_buffer("emb_mean", emb.mean(0))
        self.register_buffer("emb_std", emb.std(0, correction=0))

    @torch.no_grad()
    def standardize(self, features: Tensor) -> Tensor:
        """z: (B, d) features -> (B, m), zero mean and unit population std per dimension over B."""
        if features.ndim != 2 or features.shape[1] != self.in_dim:
            raise ValueError(f"expected features (B, {self.in_dim}), got {tuple(features.shape)}")
        g = features.float() @ self.map_t
        centred = g - g.mean(0, keepdim=True)
        return centred / g.std(0, correction=0, keepdim=True).clamp_min(self.eps)

    @torch.no_grad()
    def forward(self, features: Tensor) -> Tensor:
        """x: (B, d) image features -> (B, m) LM inputs with the token embeddings' statistics."""
        return self.emb_mean + self.emb_std * self.standardize(features)
