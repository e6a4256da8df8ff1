"""A run directory's files: config.json, metrics.csv (one row per update), TensorBoard; and the
progress bar.

Readers (plots, sweeps, analyses) import ``read_metrics`` from here, not the trainer.
"""

from __future__ import annotations

import csv
import math
from collections import deque
from pathlib import Path

import numpy as np

CONFIG = "config.json"
METRICS = "metrics.csv"

# The metrics schema, defined once: the loss, the trainer, TensorBoard and the CSV read these.
#: ppo_loss's stats tensor, row by row; each update logs their means over its minibatches
STAT_NAMES = ["policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac"]
#: metrics.csv's columns, in order (committed runs and the scripts that read them rely on it)
COLUMNS = [
    "update",
    "step",
    "episode_return_mean",
    "episode_length_mean",
    "episodes",
    "fps",
    *STAT_NAMES,
    "time_s",
]
#: the columns also written to TensorBoard, as train/<name>
TENSORBOARD_SCALARS = [*STAT_NAMES, "episode_return_mean", "episode_length_mean", "fps"]


class EpisodeLog:
    """The returns and lengths of the last ``window`` episodes, and how many ended in all: what
    a metrics row reports (helmrl's trainer and the SB3 callback alike)."""

    def __init__(self, window: int):
        self.returns: deque[float] = deque(maxlen=window)
        self.lengths: deque[int] = deque(maxlen=window)
        self.count = 0

    def add(self, ret: float, length: int) -> None:
        self.returns.append(float(ret))
        self.lengths.append(int(length))
        self.count += 1


def metrics_row(
    update: int, step: int, episodes: EpisodeLog, fps: float, stats: dict[str, float], elapsed: float
) -> dict:
    """One metrics.csv row, in ``COLUMNS`` order; the episode means stay empty until an episode
    has ended (never padded with zeros). ``stats``: the update's ``STAT_NAMES`` ("" where unknown)."""
    have = len(episodes.returns) > 0
    return {
        "update": update,
        "step": step,
        "episode_return_mean": round(float(np.mean(episodes.returns)), 6) if have else "",
        "episode_length_mean": round(float(np.mean(episodes.lengths)), 3) if have else "",
        "episodes": episodes.count,
        "fps": round(fps, 2),
        **{k: ("" if stats[k] == "" else round(stats[k], 6)) for k in STAT_NAMES},
        "time_s": round(elapsed, 2),
    }


def append_metrics(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        if new:
            w.writeheader()
        w.writerow(row)


def truncate_metrics(path: Path, update: int) -> None:
    """On resume, drop rows logged after the checkpoint (they will be produced again)."""
    if not path.exists():
        return
    with open(path, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if int(r["update"]) <= update]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)


def tensorboard(run_dir: Path):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(run_dir / "tb"))


def progress_bar(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="step", disable=not enabled, dynamic_ncols=True)


def read_metrics(run_dir: Path) -> list[dict[str, float]]:
    """metrics.csv as a list of rows with numbers (NaN where no episode had finished yet)."""
    with open(Path(run_dir) / METRICS, newline="") as fh:
        return [{k: float(v) if v != "" else math.nan for k, v in r.items()} for r in csv.DictReader(fh)]
