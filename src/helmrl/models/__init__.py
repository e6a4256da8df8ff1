"""What trains: the observation encoders, the actor-critic heads, and the agents built from them.

The frozen history stage (FrozenHopfield, the frozen LM and its memory, HELMv2's and SHELM's CLIP
input maps) has no trainable parameter and lives in ``helmrl.frozen``; agents read its output as
the ``"history"`` key of their observation.

Import from the modules; the package itself loads nothing, so the torch-free configs
(``helmrl.models.configs``) load without the networks. ``helmrl.models.agents`` (``AGENTS``,
``agent_class``) imports every agent module, which registers them all.
"""
