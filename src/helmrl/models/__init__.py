"""Model parts: FrozenHopfield, the frozen LM memory, encoders, heads and agents.

Each name is imported on first use, so the torch-free configs (``helmrl.models.configs``) load
without the networks; ``AGENTS`` (or any agent) imports the agents package, which registers them all.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "AGENTS": ".agents",
    "Agent": ".agents",
    "CNNAgent": ".agents",
    "HELMAgent": ".agents",
    "LSTMAgent": ".agents",
    "Observation": ".agents",
    "State": ".agents",
    "agent_class": ".agents",
    "register_agent": ".agents",
    "NetConfig": ".configs",
    "HistoryConfig": ".configs",
    "parse_history_layer": ".configs",
    "HistoryConfigError": "..errors",
    "LanguageModelError": "..errors",
    "FrozenHistory": ".frozen_history",
    "build_frozen_history": ".frozen_history",
    "FrozenHopfield": ".frozen_hopfield",
    "DEFAULT_LM": ".language_model",
    "RANDOM_INIT": ".language_model",
    "FrozenLM": ".language_model",
    "load_language_model": ".language_model",
    "StreamingLMMemory": ".lm_memory",
    "make_lm_memory": ".lm_memory",
    "streaming_attention_mask": ".lm_memory",
}

__all__ = [
    "AGENTS",
    "DEFAULT_LM",
    "RANDOM_INIT",
    "Agent",
    "CNNAgent",
    "FrozenHistory",
    "HistoryConfig",
    "HistoryConfigError",
    "FrozenHopfield",
    "FrozenLM",
    "HELMAgent",
    "LSTMAgent",
    "LanguageModelError",
    "NetConfig",
    "Observation",
    "State",
    "StreamingLMMemory",
    "agent_class",
    "build_frozen_history",
    "load_language_model",
    "make_lm_memory",
    "parse_history_layer",
    "register_agent",
    "streaming_attention_mask",
]

if TYPE_CHECKING:
    from ..errors import HistoryConfigError, LanguageModelError
    from .agents import (
        AGENTS,
        Agent,
        CNNAgent,
        HELMAgent,
        LSTMAgent,
        Observation,
        State,
        agent_class,
        register_agent,
    )
    from .configs import HistoryConfig, NetConfig, parse_history_layer
    from .frozen_history import FrozenHistory, build_frozen_history
    from .frozen_hopfield import FrozenHopfield
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
