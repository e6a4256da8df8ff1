"""Model parts: FrozenHopfield, the frozen LM memory, encoders, heads and agents."""

from .agents import Agent, CNNAgent, FrozenHistory, HELMAgent, LSTMAgent, build_agent
from .frozen_hopfield import FrozenHopfield
from .language_model import DEFAULT_LM, FrozenLM, LanguageModelError, load_language_model
from .lm_memory import StreamingLMMemory, make_lm_memory, streaming_attention_mask

__all__ = [
    "DEFAULT_LM",
    "Agent",
    "build_agent",
    "CNNAgent",
    "FrozenHistory",
    "FrozenHopfield",
    "FrozenLM",
    "HELMAgent",
    "LSTMAgent",
    "LanguageModelError",
    "StreamingLMMemory",
    "load_language_model",
    "make_lm_memory",
    "streaming_attention_mask",
]
