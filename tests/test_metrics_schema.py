"""metrics.csv's columns are defined once (helmrl.ppo.metrics) and never move: committed runs and
the scripts that read them rely on their names and order."""

from __future__ import annotations

from helmrl.ppo import loss, metrics

# the header of every metrics.csv written so far (benchmarks/results/cells/*/metrics.csv)
HEADER = (
    "update,step,episode_return_mean,episode_length_mean,episodes,fps,"
    "policy_loss,value_loss,entropy,approx_kl,clipfrac,time_s"
)


def test_columns_and_their_order_are_unchanged():
    assert ",".join(metrics.COLUMNS) == HEADER
    assert loss.STAT_NAMES is metrics.STAT_NAMES
    assert set(metrics.TENSORBOARD_SCALARS) <= set(metrics.COLUMNS)


def test_a_row_has_exactly_the_columns_and_no_episode_means_before_an_episode_ends(tmp_path):
    episodes = metrics.EpisodeLog(window=2)
    stats = dict.fromkeys(metrics.STAT_NAMES, 0.25)
    empty = metrics.metrics_row(1, 32, episodes, fps=10.0, stats=stats, elapsed=0.5)
    assert empty["episode_return_mean"] == "" and empty["episodes"] == 0
    for ret, length in ((3.0, 9), (1.0, 3), (0.5, 5)):
        episodes.add(ret, length)
    row = metrics.metrics_row(2, 64, episodes, fps=10.0, stats=stats, elapsed=1.5)
    assert list(row) == metrics.COLUMNS
    assert (row["episode_return_mean"], row["episode_length_mean"], row["episodes"]) == (0.75, 4.0, 3)
    metrics.append_metrics(tmp_path / metrics.METRICS, row)
    assert (tmp_path / metrics.METRICS).read_text().splitlines()[0] == HEADER
