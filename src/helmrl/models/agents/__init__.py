"""Agents behind one interface (``base.Agent``), chosen by name from the registry.

Importing this package registers the built-in agents; a new one is a module beside them.
"""

from .base import AGENTS, Agent, NetConfig, State, agent_class, register_agent
from .cnn import CNNAgent
from .helm import HELMAgent
from .lstm import LSTMAgent

__all__ = [
    "AGENTS",
    "Agent",
    "CNNAgent",
    "HELMAgent",
    "LSTMAgent",
    "NetConfig",
    "State",
    "agent_class",
    "register_agent",
]
