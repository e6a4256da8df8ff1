"""The keys of the observation dict the agents read.

``FrozenHistoryObservation`` (``helmrl.wrappers``) adds ``"history"`` to an env's observation and
keeps the env's own observation under ``"observation"``; a plain Box env's observation reaches the
agents as ``{"observation": ...}``. Each agent declares the keys it reads (``Agent.obs_keys``).
"""

OBSERVATION = "observation"
HISTORY = "history"
