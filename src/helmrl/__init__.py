"""helmrl: HELM (History comprEssion via Language Models, Paischer et al., ICML 2022).

The pieces a user composes, imported on first use (``import helmrl`` stays light):

* ``FrozenHopfield``: x_t = Eᵀ softmax(β E P o_t), the observation as a token embedding;
* ``HistoryStage`` + ``HistoryConfig`` (+ ``build_history_stage``): the frozen LM over the
  episode so far, one step per observation; ``load_lm`` loads a frozen LM;
* ``FrozenHistoryObservation``: that history as a gymnasium vector-env wrapper, for any trainer
  (Stable-Baselines3: ``helmrl.integrations.sb3``);
* ``TrainConfig``, ``preset``, ``Trainer`` and ``train()``: helmrl's own PPO for HELM and baselines.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from . import envs as _envs  # noqa: F401 - registers helmrl's env ids and families with gymnasium

_EXPORTS = {
    "FrozenHopfield": "helmrl.frozen.frozen_hopfield",
    "HistoryStage": "helmrl.frozen.history_stage",
    "HistoryConfig": "helmrl.frozen.history_config",
    "build_history_stage": "helmrl.frozen.history_stage",
    "NetConfig": "helmrl.models.configs",
    "FrozenHistoryObservation": "helmrl.wrappers",
    "TrainConfig": "helmrl.config",
    "preset": "helmrl.config",
    "Trainer": "helmrl.ppo.trainer",
    "TrainResult": "helmrl.ppo.trainer",
    "train": "helmrl.runs",
}
_RENAMED = {"load_lm": ("helmrl.frozen.language_model", "load_language_model")}

__all__ = [
    "FrozenHistoryObservation",
    "FrozenHopfield",
    "HistoryConfig",
    "HistoryStage",
    "NetConfig",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "build_history_stage",
    "load_lm",
    "preset",
    "train",
]

if TYPE_CHECKING:
    from .config import TrainConfig, preset
    from .frozen.frozen_hopfield import FrozenHopfield
    from .frozen.history_config import HistoryConfig
    from .frozen.history_stage import HistoryStage, build_history_stage
    from .frozen.language_model import load_language_model as load_lm
    from .models.configs import NetConfig
    from .ppo.trainer import Trainer, TrainResult
    from .runs import train
    from .wrappers import FrozenHistoryObservation


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    if name in _RENAMED:
        module, attr = _RENAMED[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'helmrl' has no attribute {name!r}")
