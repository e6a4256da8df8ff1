"""The model layer's own configs, as plain dataclasses: no torch here, so reading or checking a
config (``helmrl.config``, ``helmrl presets``) does not load the networks.

``TrainConfig.net()`` and ``TrainConfig.history()`` build these from a run's config; a library user
builds them directly. The modules that use them re-export them (``helmrl.models.agents.base``,
``helmrl.frozen.frozen_history``, ``heads``, ``encoders``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

HeadKind = Literal["layernorm", "linear"]
OutputGain = Literal["authors", "small"]
EncoderKind = Literal["authors", "nature"]


@dataclass(frozen=True)
class NetConfig:
    """The trainable networks' shape; the model layer's own config (``TrainConfig.net()`` builds it).

    The defaults are the authors' code: their small Impala CNN and LayerNorm heads with every
    output layer initialised orthogonally at gain √2."""

    head: HeadKind = "layernorm"
    output_gain: OutputGain = "authors"
    encoder: EncoderKind = "authors"
