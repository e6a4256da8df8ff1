"""SHELM: HELM whose memory a person can read.

Each observation becomes the k tokens (of the vocabulary CLIP and the LM share) whose CLIP text
embeddings are most similar to its CLIP image embedding, and the LM reads those k tokens per step
(``helmrl.frozen.token_retrieval``; ``helmrl analyze words RUN`` prints them). The networks that
train are HELM's: the CNN of the current observation and the actor-critic head.
"""

from __future__ import annotations

from .base import register_agent
from .helm import HELMAgent


@register_agent("shelm")
class SHELMAgent(HELMAgent):
    description = "SHELM: frozen LM history of CLIP's top-k tokens per observation (readable) + CNN"
