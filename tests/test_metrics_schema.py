"""metrics.csv's columns are defined once (helmrl.ppo.metrics) and never move: committed runs and
the scripts that read them rely on their names and order."""

from __future__ import annotations

from collections import deque
from types import SimpleNamespace

from helmrl.ppo import loss, metrics
from helmrl.ppo.trainer import Trainer

# the header of every metrics.csv written so far (benchmarks/results/cells/*/metrics.csv)
HEADER = (
    "update,step,episode_return_mean,episode_length_mean,episodes,fps,"
    "policy_loss,value_loss,entropy,approx_kl,clipfrac,time_s"
)


def test_columns_and_their_order_are_unchanged():
    assert ",".join(metrics.COLUMNS) == HEADER
    assert loss.STAT_NAMES is metrics.STAT_NAMES
    assert set(metrics.TENSORBOARD_SCALARS) <= set(metrics.COLUMNS)


def test_the_trainer_logs_exactly_the_columns(tmp_path):
    fake = SimpleNamespace(update_count=2, global_step=64, episodes=2)
    fake.recent_returns, fake.recent_lengths = deque([1.0, 0.5]), deque([3, 5])
    stats = dict.fromkeys(metrics.STAT_NAMES, 0.25)
    row = Trainer._log_row(fake, stats, fps=10.0, elapsed=1.5)
    assert list(row) == metrics.COLUMNS
    metrics.append_metrics(tmp_path / metrics.METRICS, row)
    assert (tmp_path / metrics.METRICS).read_text().splitlines()[0] == HEADER
