"""Model parts: FrozenHopfield, the frozen LM memory, encoders, heads and agents."""

from .agents import (
    AGENTS,
    Agent,
    CNNAgent,
    HELMAgent,
    LSTMAgent,
    NetConfig,
    State,
    agent_class,
    register_agent,
)
from .frozen_history import (
    FrozenHistory,
    HistoryConfig,
    HistoryConfigError,
    build_frozen_history,
    parse_history_layer,
)
from .frozen_hopfield import FrozenHopfield
from .language_model import DEFAULT_LM, RANDOM_INIT, FrozenLM, LanguageModelError, load_language_model
from .lm_memory import StreamingLMMemory, make_lm_memory, streaming_attention_mask

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
