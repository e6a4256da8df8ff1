"""helmrl.integrations.sb3.MetricsCallback: SB3's PPO writes metrics.csv in helmrl's schema
(helmrl.ppo.metrics.COLUMNS), one row per update, and a resumed run continues it."""

from __future__ import annotations

import csv
import math

import pytest

pytest.importorskip("stable_baselines3")

from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402

from helmrl.integrations.sb3 import SB3_STATS, MetricsCallback  # noqa: E402
from helmrl.ppo.metrics import COLUMNS, METRICS, STAT_NAMES, read_metrics  # noqa: E402

N_ENVS, N_STEPS = 2, 64  # 128 env steps an update


def cartpole_ppo(seed: int = 0) -> PPO:
    venv = make_vec_env("CartPole-v1", n_envs=N_ENVS, seed=seed)  # Monitor: info["episode"]
    return PPO("MlpPolicy", venv, n_steps=N_STEPS, batch_size=64, n_epochs=1, seed=seed, device="cpu")


def test_every_update_statistic_is_mapped():
    assert list(SB3_STATS) == STAT_NAMES


def test_sb3_ppo_writes_helmrl_metrics(tmp_path):
    model = cartpole_ppo()
    logger = MetricsCallback(tmp_path, window=10)
    model.learn(2 * N_ENVS * N_STEPS, callback=logger)
    model.learn(N_ENVS * N_STEPS, callback=logger, reset_num_timesteps=False)  # a second chunk
    with open(tmp_path / METRICS, newline="") as fh:
        header = next(csv.reader(fh))
    assert header == COLUMNS
    rows = read_metrics(tmp_path)
    assert [r["update"] for r in rows] == [1, 2, 3]
    assert [r["step"] for r in rows] == [128, 256, 384]
    last = rows[-1]
    assert last["episodes"] > 0 and 8 <= last["episode_return_mean"] <= 500  # CartPole: >= 8 steps
    assert last["episode_return_mean"] == last["episode_length_mean"]  # reward 1 a step
    for name in STAT_NAMES:
        assert all(math.isfinite(r[name]) for r in rows), name
    assert all(r["entropy"] > 0 for r in rows)  # SB3's entropy_loss, negated
    assert rows[-1]["time_s"] >= rows[0]["time_s"] and rows[-1]["fps"] > 0

    # a resumed run: the saved model in a fresh callback; rows after its update are dropped
    model.save(tmp_path / "model.zip")
    with open(tmp_path / METRICS, "a", newline="") as fh:  # a row logged after the save
        csv.writer(fh).writerow([4, 512, "", "", last["episodes"], 1.0, *[""] * len(STAT_NAMES), 9.0])
    resumed = PPO.load(tmp_path / "model.zip", env=cartpole_ppo().get_env(), device="cpu")
    resumed.learn(N_ENVS * N_STEPS, callback=MetricsCallback(tmp_path), reset_num_timesteps=False)
    rows = read_metrics(tmp_path)
    assert [r["update"] for r in rows] == [1, 2, 3, 4]
    assert rows[-1]["step"] == 512 and rows[-1]["episodes"] >= last["episodes"]
