"""Trainable encoders of the current observation."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .configs import EncoderKind, SmallImpalaKernels


def _xavier(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.xavier_uniform_(m.weight, gain=math.sqrt(2))
            nn.init.zeros_(m.bias)


def _dense_after(convs: nn.Module, chw: tuple[int, int, int], features: int) -> nn.Sequential:
    """Linear→features · ReLU on the flattened output of ``convs`` for (C, H, W) inputs."""
    with torch.no_grad():
        n_flat = convs(torch.zeros(1, *chw)).shape[1]
    return nn.Sequential(nn.Linear(n_flat, features), nn.ReLU())


def small_impala_kernels(
    obs_shape: tuple[int, int, int], kernels: SmallImpalaKernels
) -> tuple[tuple[int, int], ...]:
    """(kernel, stride) of the two convs of the small Impala CNN for (H, W, C) images.

    ``authors``: as their code picks them (``model.py``'s SmallImpalaCNN): the first conv is 8/4 when
    ``obs_size[1]`` > 9, else 4/2, and the second 4/2 when ``obs_size[2]`` > 9, else 2/1. Their
    observations are (H, W, C), so ``obs_size[1]`` is the width and ``obs_size[2]`` the channel
    count: on RGB images the second conv is always 2/1 (MiniGrid's 56 px: a 12×12 map, 4608·s
    features). ``sized``: 8/4 and 4/2 from 32 px, 4/2 and 2/1 below (a 5×5 map on 56 px, 800·s
    features), the Nature-CNN pattern. The two agree below 10 px (RandomMaze's 9×9, the tiles)."""
    h, w, c = obs_shape
    if kernels == "authors":
        return ((8, 4) if w > 9 else (4, 2)), ((4, 2) if c > 9 else (2, 1))
    if kernels == "sized":
        return ((4, 2), (2, 1)) if min(h, w) < 32 else ((8, 4), (4, 2))
    raise ValueError(f"kernels must be 'authors' or 'sized', got {kernels!r}")


class SmallImpalaCNN(nn.Module):
    """The authors' "small Impala" (Nature-style) CNN for (H, W, C) uint8 images.

    conv(C→16s, k1, s1) · ReLU · conv(16s→32s, k2, s2) · ReLU · flatten · Linear→features · ReLU,
    with s the channel scale: HELM uses s=4 and 1024 features, Impala-PPO s=1 and 256,
    CNN-PPO s=4 and 1024. The kernels and strides are ``small_impala_kernels``'s.
    """

    def __init__(
        self,
        obs_shape: tuple[int, int, int],
        channel_scale: int = 4,
        features: int = 1024,
        kernels: SmallImpalaKernels = "authors",
    ):
        super().__init__()
        h, w, c = obs_shape
        (k1, s1), (k2, s2) = small_impala_kernels(obs_shape, kernels)
        self.convs = nn.Sequential(
            nn.Conv2d(c, 16 * channel_scale, k1, s1),
            nn.ReLU(),
            nn.Conv2d(16 * channel_scale, 32 * channel_scale, k2, s2),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.fc, self.out_dim = _dense_after(self.convs, (c, h, w), features), features
        _xavier(self)

    def forward(self, obs: Tensor) -> Tensor:
        """obs: (B, H, W, C) uint8 or float in [0, 255] -> (B, features)."""
        x = obs.permute(0, 3, 1, 2).float() / 255.0
        return self.fc(self.convs(x))


class NatureCNN(nn.Module):
    """Stable-Baselines3's CnnPolicy extractor (Mnih et al., 2015): conv(C→32, k8, s4) · ReLU ·
    conv(32→64, k4, s2) · ReLU · conv(64→64, k3, s1) · ReLU · flatten · Linear→512 · ReLU,
    orthogonal init with gain √2. Here to swap SB3's network into helmrl's trainer."""

    def __init__(self, obs_shape: tuple[int, int, int], features: int = 512):
        super().__init__()
        h, w, c = obs_shape
        if min(h, w) < 36:
            raise ValueError(f"the Nature CNN needs images of at least 36x36 pixels, got {h}x{w}")
        self.convs = nn.Sequential(
            nn.Conv2d(c, 32, 8, 4),
            nn.ReLU(),
            nn.Conv2d(32, 64, 4, 2),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, 1),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.fc, self.out_dim = _dense_after(self.convs, (c, h, w), features), features
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.orthogonal_(m.weight, math.sqrt(2))
                nn.init.zeros_(m.bias)

    def forward(self, obs: Tensor) -> Tensor:
        """obs: (B, H, W, C) uint8 or float in [0, 255] -> (B, 512)."""
        return self.fc(self.convs(obs.permute(0, 3, 1, 2).float() / 255.0))


class MLPEncoder(nn.Module):
    """Two ReLU layers for flat vector observations."""

    def __init__(self, obs_dim: int, features: int = 256):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(obs_dim, features), nn.ReLU(), nn.Linear(features, features), nn.ReLU()
        )
        self.out_dim = features
        _xavier(self)

    def forward(self, obs: Tensor) -> Tensor:
        return self.net(obs.float().flatten(1))


def make_encoder(
    obs_shape: tuple[int, ...], channel_scale: int, features: int, kind: EncoderKind = "authors"
) -> nn.Module:
    """Images (H, W, C) go through a CNN (the authors' small Impala with their kernels or sized
    ones, or SB3's Nature CNN with its own 512 features), flat vectors through the MLP."""
    if len(obs_shape) == 3:
        if kind == "nature":
            return NatureCNN(obs_shape)  # type: ignore[arg-type]
        return SmallImpalaCNN(obs_shape, channel_scale, features, kind)  # type: ignore[arg-type]
    if len(obs_shape) == 1:
        return MLPEncoder(obs_shape[0], features)
    raise ValueError(f"observations must be images (H, W, C) or flat vectors, got shape {obs_shape}")
