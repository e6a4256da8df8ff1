"""The PPO trainer (one for every agent), the acting loop, checkpoints and GAE."""

from .acting import ActingLoop, Step, play_returns
from .checkpoint import CHECKPOINT, CheckpointError, load_checkpoint, save_checkpoint
from .trainer import (
    CONFIG,
    METRICS,
    NonFiniteError,
    Rollout,
    Trainer,
    TrainResult,
    compute_gae,
    minibatch_indices,
    ppo_loss,
    read_metrics,
    select,
)

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
    "load_checkpoint",
    "minibatch_indices",
    "play_returns",
    "ppo_loss",
    "read_metrics",
    "save_checkpoint",
    "select",
]
