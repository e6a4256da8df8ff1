"""PPO for every agent: the rollout buffer and GAE, the loss, the acting loop, the training loop,
checkpoints and the metrics on disk."""

import importlib
from typing import Any

_EXPORTS = {
    "ActingLoop": ".acting",
    "CHECKPOINT": ".checkpoint",
    "CONFIG": ".metrics",
    "CheckpointError": "..errors",
    "METRICS": ".metrics",
    "NonFiniteError": "..errors",
    "Rollout": ".rollout",
    "Step": ".acting",
    "TrainResult": ".trainer",
    "Trainer": ".trainer",
    "compute_gae": ".rollout",
    "episode_segments": ".rollout",
    "load_checkpoint": ".checkpoint",
    "minibatch_indices": ".rollout",
    "play_returns": ".acting",
    "ppo_loss": ".loss",
    "read_metrics": ".metrics",
    "save_checkpoint": ".checkpoint",
    "segment_minibatches": ".rollout",
    "select": ".rollout",
    "select_segments": ".rollout",
}


def __getattr__(name: str) -> Any:
    """Import on first use: reading a run's metrics.csv does not load the trainer and its envs."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CHECKPOINT",
    "CONFIG",
    "METRICS",
    "ActingLoop",
    "CheckpointError",
    "NonFiniteError",
    "Rollout",
    "Step",
    "TrainResult",
    "Trainer",
    "compute_gae",
    "episode_segments",
    "load_checkpoint",
    "minibatch_indices",
    "play_returns",
    "ppo_loss",
    "read_metrics",
    "save_checkpoint",
    "segment_minibatches",
    "select",
    "select_segments",
]
