"""What trains: the observation encoders, the actor-critic heads, and the agents built from them.

The frozen history stage (FrozenHopfield, the frozen LM and its memory, HELMv2's and SHELM's CLIP
input maps) has no trainable parameter and lives in ``helmrl.frozen``; agents read its output as
the ``"history"`` key of their observation.

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
}

__all__ = [
    "AGENTS",
    "Agent",
    "CNNAgent",
    "HELMAgent",
    "LSTMAgent",
    "NetConfig",
    "Observation",
    "State",
    "agent_class",
    "register_agent",
]

if TYPE_CHECKING:
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
    from .configs import NetConfig


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value  # the next lookup is a plain attribute
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
