"""The frozen, untrained transform of HELM and its variants: nothing here has a gradient.

    h_t = PLT(x_1 .. x_t),   x_i = Eᵀ softmax(β · sim(E, P o_i))   (HELM)

FrozenHopfield (``frozen_hopfield``), the frozen LM and its streaming KV-cache memory
(``language_model``, ``lm_memory``), the history stage that joins them (``frozen_history``), and
HELMv2's and SHELM's CLIP input maps (``vision_history``). What trains is in ``helmrl.models``.

Each name is imported on first use, so the torch-free config (``helmrl.frozen.history_config``)
loads without the LM code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "HistoryConfig": ".history_config",
    "parse_history_layer": ".history_config",
    "HistoryConfigError": "..errors",
    "LanguageModelError": "..errors",
    "FrozenHistory": ".frozen_history",
    "build_frozen_history": ".frozen_history",
    "FrozenHopfield": ".frozen_hopfield",
    "observation_to_vector": ".frozen_hopfield",
    "DEFAULT_LM": ".language_model",
    "RANDOM_INIT": ".language_model",
    "FrozenLM": ".language_model",
    "load_language_model": ".language_model",
    "StreamingLMMemory": ".lm_memory",
    "make_lm_memory": ".lm_memory",
    "streaming_attention_mask": ".lm_memory",
}

__all__ = [
    "DEFAULT_LM",
    "FrozenHistory",
    "FrozenHopfield",
    "FrozenLM",
    "HistoryConfig",
    "HistoryConfigError",
    "LanguageModelError",
    "RANDOM_INIT",
    "StreamingLMMemory",
    "build_frozen_history",
    "load_language_model",
    "make_lm_memory",
    "observation_to_vector",
    "parse_history_layer",
    "streaming_attention_mask",
]

if TYPE_CHECKING:
    from ..errors import HistoryConfigError, LanguageModelError
    from .frozen_history import FrozenHistory, build_frozen_history
    from .frozen_hopfield import FrozenHopfield, observation_to_vector
    from .history_config import HistoryConfig, parse_history_layer
    from .language_model import DEFAULT_LM, RANDOM_INIT, FrozenLM, load_language_model
    from .lm_memory import StreamingLMMemory, make_lm_memory, streaming_attention_mask


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value  # the next lookup is a plain attribute
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
