"""Agents behind one interface (``base.Agent``), chosen by name from the registry.

Importing this package imports every module in it, so each registers its agents: a new agent is
one module dropped beside these, decorated with ``@register_agent("name")``.
"""

from ...registry import import_submodules
from .base import AGENTS, DESCRIPTIONS, Agent, NetConfig, Observation, State, agent_class, register_agent
from .cnn import CNNAgent
from .helm import HELMAgent
from .lstm import LSTMAgent

import_submodules(__name__, __path__)

__all__ = [
    "AGENTS",
    "DESCRIPTIONS",
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
