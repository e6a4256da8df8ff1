"""LagRecall: exact recall at a fixed lag, with a known chance level."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import helmrl  # noqa: F401 - registers the envs
from helmrl.envs import make_vec_env
from helmrl.envs.lag_recall import LAGS, LagRecallEnv, symbol_tiles


def play(env: LagRecallEnv, policy, episodes: int, seed: int = 0) -> float:
    """Mean return of ``policy(seen_symbols) -> action`` over ``episodes``."""
    total = 0.0
    for e in range(episodes):
        obs, _ = env.reset(seed=seed + e)
        seen, done = [], False
        while not done:
            seen.append(int(np.argmax(obs)) if env.kind == "onehot" else _tile_id(obs))
            obs, r, done, trunc, _ = env.step(policy(seen))
            total += r
            assert not trunc
    return total / episodes


def _tile_id(obs: np.ndarray) -> int:
    tiles = symbol_tiles(4)
    return next(i for i, t in enumerate(tiles) if np.array_equal(t, obs))


@pytest.mark.parametrize("kind", ["onehot", "tiles"])
def test_recalling_the_lag_k_symbol_scores_one_and_no_memoryless_policy_beats_chance(kind):
    env = LagRecallEnv(lag=4, observation=kind)
    assert env.chance == -0.5
    assert play(env, lambda seen: seen[-5] if len(seen) >= 5 else 0, 20) == pytest.approx(1.0)
    # memoryless policies: name the current symbol, or always the same one; chance is -0.5
    for policy in (lambda seen: seen[-1], lambda seen: 2):
        assert abs(play(env, policy, 400) - env.chance) < 0.05
    # an off-by-one memory is no better than chance either
    assert abs(play(env, lambda seen: seen[-4] if len(seen) >= 4 else 0, 400) - env.chance) < 0.05


def test_episodes_last_lag_plus_questions_steps_and_early_steps_pay_nothing():
    env = LagRecallEnv(lag=8, questions=5)
    env.reset(seed=1)
    rewards = []
    for t in range(13):
        _, r, term, _, info = env.step(0)
        rewards.append(r)
        assert term == (t == 12) and info["lag"] == 8
    assert rewards[:8] == [0.0] * 8 and all(abs(r) == pytest.approx(0.2) for r in rewards[8:])


def test_tiles_are_distinct_grey_patterns_after_the_channel_mean():
    tiles = symbol_tiles(4)
    grey = tiles.mean(axis=-1)
    assert tiles.shape == (4, 7, 7, 3) and tiles.dtype == np.uint8
    assert len({g.tobytes() for g in grey}) == 4
    assert np.array_equal(symbol_tiles(4), tiles)  # fixed for every env and seed


def test_every_lag_and_kind_is_registered_and_builds_a_vector_env():
    for lag in LAGS:
        for kind in ("OneHot", "Tiles"):
            env = gym.make(f"LagRecall-K{lag}-{kind}-v0")
            assert env.unwrapped.lag == lag
    envs = make_vec_env("LagRecall-K2-Tiles-v0", 2)
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (2, 7, 7, 3)
    envs.close()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="lag"):
        LagRecallEnv(lag=0)
    with pytest.raises(ValueError, match="observation"):
        LagRecallEnv(observation="pixels")
