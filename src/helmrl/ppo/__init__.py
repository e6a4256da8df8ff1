"""The PPO trainer (one for every agent), its checkpoints and GAE."""

from .checkpoint import CHECKPOINT, CheckpointError, load_checkpoint, save_checkpoint
from .trainer import CONFIG, METRICS, NonFiniteError, Trainer, TrainResult, compute_gae, read_metrics

__all__ = [
    "CHECKPOINT",
    "CONFIG",
    "METRICS",
    "CheckpointError",
    "NonFiniteError",
    "TrainResult",
    "Trainer",
    "compute_gae",
    "load_checkpoint",
    "read_metrics",
    "save_checkpoint",
]
