"""The keys of the observation dict the agents read.

``FrozenHistoryObservation`` (``helmrl.wrappers``) adds ``"history"`` to an env's observation and
keeps the env's own observation under ``"observation"``; a plain Box env's observation reaches the
agents as ``{"observation": ...}``. Each agent declares the keys it reads (``Agent.obs_keys``).
"""

OBSERVATION = "observation"
HISTORY = "history"
#: ``FrozenHistoryObservation(read_window=W)``: the last W histories of the episode, oldest first
#: (this step's last), and which of them belong to it (1.0) or are padding before its start (0.0)
HISTORY_WINDOW = "history_window"
HISTORY_VALID = "history_valid"
