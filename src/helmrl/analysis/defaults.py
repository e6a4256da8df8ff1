"""What each ``helmrl analyze`` analysis reads when no option says otherwise.

Plain values, no torch: the CLI builds its parser from them without loading a model.
"""

#: the env an analysis plays when neither a run nor ``--env`` names one
BARE_ENV = "MiniGrid-KeyCorridorS3R1-v0"
#: seed of the envs and the policy's actions (without a run, also of FrozenHopfield's P)
SEED = 0
#: ``distances``: observations compared, and the β values (on a run its own β is added)
DISTANCE_OBSERVATIONS = 64
DISTANCE_BETAS = (1.0, 10.0, 100.0)
#: ``words`` and ``attention``: steps of the one episode shown
EPISODE_STEPS = 48
#: ``memory``: steps back a linear probe predicts, envs (3/4 fit the probe, 1/4 test it),
#: steps per env, and distinct observations of the synthetic sequences
PROBE_LAGS = (0, 1, 2, 4, 8, 16)
PROBE_ENVS = 16
PROBE_STEPS = 200
PROBE_SYMBOLS = 4
#: ``memory``: layers probed when ``--layers`` is not given (one probe per layer and lag is the cost)
PROBE_LAYER_COUNT = 7


def probe_layers(n_layers: int, count: int = PROBE_LAYER_COUNT) -> list[int]:
    """``count`` layers spread evenly over 0 (the inputs) .. ``n_layers``."""
    return sorted({round(i * n_layers / (count - 1)) for i in range(count)})
