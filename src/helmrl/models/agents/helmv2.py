"""HELMv2: HELM with a frozen CLIP in place of FrozenHopfield.

The LM reads, per step, the CLIP image features of the observation, standardised over the envs
of the batch and rescaled to the per-dimension mean and std of its token embeddings
(``helmrl.frozen.embedding_rescale``). The networks that train are HELM's: the CNN of the
current observation and the actor-critic head on [history, CNN(obs)].
"""

from __future__ import annotations

from .base import register_agent
from .helm import HELMAgent


@register_agent("helmv2")
class HELMv2Agent(HELMAgent):
    description = "HELMv2: frozen LM history of CLIP image features rescaled to its embeddings + CNN"
