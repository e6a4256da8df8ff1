"""The small Impala CNN's kernels: the authors' code keys the second conv on the channel axis of
(H, W, C) images, so on RGB images it is always kernel 2, stride 1; ``sized`` is the 8/4, 4/2
pattern from 32 px. Both agree on RandomMaze's 9x9 images."""

from __future__ import annotations

import pytest
import torch

from helmrl.config import preset
from helmrl.models.encoders import SmallImpalaCNN, make_encoder, small_impala_kernels


def conv_map(cnn: SmallImpalaCNN, shape: tuple[int, int, int]) -> tuple[int, ...]:
    h, w, c = shape
    x = torch.zeros(1, c, h, w)
    for layer in cnn.convs:
        if isinstance(layer, torch.nn.Flatten):
            break
        x = layer(x)
    return tuple(x.shape[1:])


def test_authors_kernels_on_minigrid_images_give_their_12x12_map() -> None:
    # their model.py: kernel1 = 8 if obs_size[1] > 9 else 4; kernel2 = 4 if obs_size[2] > 9 else 2
    assert small_impala_kernels((56, 56, 3), "authors") == ((8, 4), (2, 1))
    cnn = SmallImpalaCNN((56, 56, 3), channel_scale=4, features=1024, kernels="authors")
    assert conv_map(cnn, (56, 56, 3)) == (128, 12, 12)
    assert cnn.fc[0].in_features == 4608 * 4


def test_sized_kernels_on_minigrid_images_give_a_5x5_map() -> None:
    assert small_impala_kernels((56, 56, 3), "sized") == ((8, 4), (4, 2))
    cnn = SmallImpalaCNN((56, 56, 3), channel_scale=1, features=256, kernels="sized")
    assert conv_map(cnn, (56, 56, 3)) == (32, 5, 5)


@pytest.mark.parametrize("kernels", ["authors", "sized"])
def test_both_rules_agree_on_randommaze_images(kernels: str) -> None:
    assert small_impala_kernels((9, 9, 3), kernels) == ((4, 2), (2, 1))
    cnn = SmallImpalaCNN((9, 9, 3), channel_scale=4, features=1024, kernels=kernels)
    assert conv_map(cnn, (9, 9, 3)) == (128, 2, 2)


def test_the_authors_rule_reads_width_and_channels_not_height() -> None:
    # a 5-px-high, 40-px-wide image: the first conv follows the width (8/4), as their obs_size[1]
    assert small_impala_kernels((12, 40, 3), "authors") == ((8, 4), (2, 1))
    assert small_impala_kernels((12, 40, 16), "authors") == ((8, 4), (4, 2))
    with pytest.raises(ValueError, match="kernels must be"):
        small_impala_kernels((9, 9, 3), "nature")


def test_agents_take_the_encoder_setting() -> None:
    from helmrl.models.agents.cnn import CNNAgent

    cfg = preset("keycorridor", "cnn")
    assert cfg.net.encoder == "authors"
    authors = CNNAgent((56, 56, 3), 7, net=cfg.net)
    sized = CNNAgent((56, 56, 3), 7, net=cfg.replace(encoder="sized").net)
    assert authors.encoder.fc[0].in_features == 18432
    assert sized.encoder.fc[0].in_features == 3200
    out = make_encoder((56, 56, 3), 1, 256, "sized")(torch.zeros(2, 56, 56, 3, dtype=torch.uint8))
    assert out.shape == (2, 256)
