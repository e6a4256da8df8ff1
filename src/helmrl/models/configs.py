"""The model layer's own configs, as plain dataclasses: no torch here, so reading or checking a
config (``helmrl.config``, ``helmrl presets``) does not load the networks.

A run holds these as ``TrainConfig.net`` and ``TrainConfig.history``; a library user
builds them directly. Each field's default and help text are the CLI's and ``TrainConfig``'s too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

HeadKind = Literal["layernorm", "linear"]
OutputGain = Literal["authors", "small"]
EncoderKind = Literal["authors", "sized", "nature"]
SmallImpalaKernels = Literal["authors", "sized"]  # the small Impala CNN's kernel rules
HistoryRead = Literal["last", "attention", "window"]


def _f(default: Any, help: str) -> Any:  # noqa: A002 - `help` reads best in the field list
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class NetConfig:
    """The trainable networks' shape; the model layer's own config (a run holds it as ``TrainConfig.net``).

    The defaults are the authors' code: their small Impala CNN and LayerNorm heads with every
    output layer initialised orthogonally at gain √2."""

    head: HeadKind = _f(
        "layernorm", "actor-critic head: layernorm (authors: hidden layer + LayerNorm) | linear (SB3/CleanRL)"
    )
    output_gain: OutputGain = _f(
        "authors", "output-layer init: authors (orthogonal √2 on logits and value) | small (0.01 / 1, SB3)"
    )
    encoder: EncoderKind = _f(
        "authors",
        "image CNN: authors (2-conv small Impala, kernels as their code picks them: the second conv "
        "2/1 on RGB images) | sized (the same with 8/4, 4/2 from 32 px) | nature (SB3's 3-conv "
        "NatureCNN, 512 features)",
    )
    history_read: HistoryRead = _f(
        "last",
        "HELM's read of the frozen history: last (the paper: the LM's state now) | attention (a trainable "
        "attention over the episode's last --read-window states, a learned bias per steps-back) | window "
        "(each of those states in a slot of its own, 8 features each)",
    )
    read_window: int = _f(
        32, "history_read attention | window: the per-step LM states it reads (this step included)"
    )
    read_offset_gain: float = _f(
        32.0,
        "history_read attention: the steps-back bias is gain x a parameter, so Adam moves it gain x "
        "faster (1: the plain bias, which moves < 1 logit in 200k steps at lr 3e-4)",
    )
    lstm_skip: bool = _f(
        False,
        "Impala-PPO: the head reads [LSTM output, current CNN features], as HELM's head reads [history, "
        "current] (false: the authors' LSTM output alone)",
    )
