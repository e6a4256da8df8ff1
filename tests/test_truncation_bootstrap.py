"""bootstrap_truncated: where an episode hits its time limit, the stored reward gains γ·V(final
observation), as SB3 does; terminations and other steps keep their reward, and without the option
every reward is the env's."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from helmrl.config import TrainConfig
from helmrl.models.agents import agent_class
from helmrl.models.configs import NetConfig
from helmrl.ppo.trainer import Trainer

LIMIT = 4  # CartPole cannot fall within 4 steps, so every episode here is truncated


def _trainer(agent: str, bootstrap: bool, tmp_path) -> Trainer:
    envs = SyncVectorEnv(
        [lambda: gym.make("CartPole-v1", max_episode_steps=LIMIT)] * 2,
        autoreset_mode=AutoresetMode.SAME_STEP,
    )
    cfg = TrainConfig(
        env_id="CartPole-v1",
        agent=agent,
        n_envs=2,
        rollout_steps=10,
        reward_norm="off",
        bootstrap_truncated=bootstrap,
        torch_threads=1,
    ).validate()
    torch.manual_seed(0)
    net = agent_class(agent).from_config(NetConfig(), envs.single_observation_space.shape, 2, 0)
    return Trainer(envs, net, cfg, tmp_path, progress=False)


@pytest.mark.parametrize("agent", ["cnn", "lstm"])
def test_truncated_steps_gain_gamma_times_the_final_value(agent, tmp_path) -> None:
    tr = _trainer(agent, True, tmp_path)
    tr.start_episodes()
    loop, real, seen = tr.acting, tr.acting.step, []

    def spy(*args, **kw):
        step = real(*args, **kw)
        seen.append((step, {k: v.clone() for k, v in loop.agent_state.items()}))
        return step

    loop.step = spy
    rollout = tr.collect()
    rewards = rollout.rewards.cpu().numpy()
    truncated_at = [t for t, (s, _) in enumerate(seen) if s.truncated.any()]
    assert truncated_at == [LIMIT - 1, 2 * LIMIT - 1]
    for t, (step, state) in enumerate(seen):
        if t not in truncated_at:
            np.testing.assert_array_equal(rewards[t], 1.0)
            continue
        assert step.truncated.all()
        final = torch.as_tensor(np.stack(list(step.info["final_obs"])))
        with torch.no_grad():
            value = tr.agent({"observation": final}, state, torch.zeros(2, dtype=torch.bool))[1]
        np.testing.assert_allclose(rewards[t], 1.0 + tr.cfg.ppo.gamma * value.numpy(), rtol=1e-5)
        assert not np.allclose(rewards[t], 1.0)


def test_without_the_option_every_reward_is_the_envs(tmp_path) -> None:
    tr = _trainer("cnn", False, tmp_path)
    tr.start_episodes()
    np.testing.assert_array_equal(tr.collect().rewards.cpu().numpy(), 1.0)


def test_a_history_wrapper_without_final_histories_is_refused(tmp_path, tiny_llama_dir) -> None:
    cfg = TrainConfig(
        env_id="MiniGrid-Empty-5x5-v0", agent="helm", lm=str(tiny_llama_dir), n_envs=2,
        rollout_steps=8, mem_len=8, n_sink=2, torch_threads=1,
    ).validate()  # fmt: skip
    built = Trainer.from_config(cfg, tmp_path / "a", progress=False)
    with pytest.raises(ValueError, match="final_history=True"):
        Trainer(
            built.envs, built.agent, cfg.replace(bootstrap_truncated=True), tmp_path / "b", progress=False
        )
    wrapped = Trainer.from_config(cfg.replace(bootstrap_truncated=True), tmp_path / "c", progress=False)
    assert wrapped.envs.final_history
