"""The trainer takes injected envs and agent; ``from_config`` is only a builder of both."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics

from helmrl.config import TrainConfig
from helmrl.envs import ScaleReward, make_env, make_vec_env
from helmrl.models.agents import agent_class
from helmrl.ppo.trainer import Trainer
from helmrl.wrappers import FrozenHistoryObservation

ENV = "CartPole-v1"


def _cfg(**kw) -> TrainConfig:
    base = dict(env_id=ENV, agent="cnn", n_envs=3, rollout_steps=16, total_steps=96, n_minibatches=2)
    return TrainConfig(**{**base, **kw}).validate()


def _params(trainer: Trainer) -> list[torch.Tensor]:
    return [p.detach().clone() for p in trainer.agent.parameters()]


def test_injected_envs_and_agent_train_exactly_as_from_config(tmp_path):
    cfg = _cfg(reward_norm="on")
    built = Trainer.from_config(cfg, tmp_path / "a", progress=False)
    built.train()

    torch.manual_seed(cfg.seed)  # what from_config does before building
    scaled_only = ScaleReward(make_vec_env(ENV, cfg.n_envs), cfg.ppo.gamma)
    with pytest.raises(ValueError, match="RecordEpisodeStatistics before ScaleReward"):
        Trainer(scaled_only, agent_class("cnn").from_config(cfg.net, (4,), 2, 0), cfg, tmp_path / "c")
    torch.manual_seed(cfg.seed)
    envs = ScaleReward(RecordEpisodeStatistics(make_vec_env(ENV, cfg.n_envs)), cfg.ppo.gamma)
    agent = agent_class("cnn").from_config(cfg.net, envs.single_observation_space.shape, 2, 0)
    injected = Trainer(envs, agent, cfg, tmp_path / "b", progress=False)
    assert injected.reward_scaler is envs
    injected.train()
    for a, b in zip(_params(built), _params(injected), strict=True):
        assert torch.equal(a, b)
    assert built.reward_scaler.state_dict() == injected.reward_scaler.state_dict()
    assert list(built.episodes.returns) == list(injected.episodes.returns)


def test_helm_from_config_wraps_its_envs_in_the_users_wrapper(tmp_path, tiny_llama_dir):
    cfg = _cfg(agent="helm", lm=str(tiny_llama_dir), mem_len=8, n_sink=2)
    trainer = Trainer.from_config(cfg, tmp_path, progress=False)
    assert isinstance(trainer.envs, FrozenHistoryObservation)
    assert trainer.history is trainer.envs.frozen_history
    assert not trainer.envs.final_history  # PPO never reads terminal histories
    trainer.start_episodes()
    rollout = trainer.collect()
    assert set(rollout.obs) == {"observation", "history"}
    assert rollout.obs["history"].shape == (16, 3, trainer.history.out_dim)


def test_envs_the_trainer_would_mistrain_on_are_refused_in_one_line(tmp_path, tiny_llama_dir):
    cfg = _cfg()
    agent = agent_class("cnn").from_config(cfg.net, (4,), 2, 0)
    next_step = SyncVectorEnv([lambda: make_env(ENV)] * 3, autoreset_mode=AutoresetMode.NEXT_STEP)
    with pytest.raises(ValueError, match="SAME_STEP"):
        Trainer(next_step, agent, cfg, tmp_path)
    with pytest.raises(ValueError, match="n_envs is 3"):
        Trainer(make_vec_env(ENV, 2), agent, cfg, tmp_path)
    helm = agent_class("helm").from_config(cfg.net, (4,), 2, 32)
    with pytest.raises(ValueError, match="FrozenHistoryObservation"):
        Trainer(make_vec_env(ENV, 3), helm, cfg, tmp_path)


def test_scale_reward_divides_by_the_return_std_and_keeps_the_raw_reward():
    class Constant(gym.Wrapper):
        def step(self, action):
            obs, _, term, trunc, info = self.env.step(action)
            return obs, 2.0, term, trunc, info

    envs = ScaleReward(make_vec_env(ENV, 2, wrapper=Constant), gamma=0.9, clip=1e9)
    envs.reset(seed=0)
    for _ in range(5):
        _, scaled, term, trunc, _ = envs.step(np.zeros(2, dtype=np.int64))
        np.testing.assert_array_equal(envs.original_reward, [2.0, 2.0])
        np.testing.assert_allclose(scaled, 2.0 / np.sqrt(envs.rms.var + 1e-8))
    assert envs.returns.max() > 2.0
    saved = envs.state_dict()
    envs.reset(seed=1)
    assert not envs.returns.any() and envs.rms.count > 5  # episodes restart; the statistic stays
    fresh = ScaleReward(make_vec_env(ENV, 2), gamma=0.9)
    fresh.load_state_dict(saved)
    assert fresh.state_dict() == saved


def test_a_checkpoint_is_refused_under_an_edited_config(tmp_path, capsys):
    import json

    from helmrl.cli import main

    run = tmp_path / "run"
    args = ["train", "--agent", "cnn", "--env-id", ENV, "--total-steps", "48", "--n-envs", "3"]
    assert main([*args, "--rollout-steps", "16", "--run-dir", str(run), "--no-progress"]) == 0
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "lr": 0.5}))
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--total-steps", "96", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "lr=0.0001 there but 0.5 now" in err
    assert main(["eval", str(run), "--episodes", "1"]) == 2  # eval rebuilds the model from config.json
    (run / "config.json").write_text(json.dumps(config))
    assert main(["train", "--resume", str(run), "--total-steps", "96", "--no-progress"]) == 0


def test_episode_statistics_must_lie_beneath_the_reward_scaler_and_count_every_episode(tmp_path):
    """Returns are the envs' own: RecordEpisodeStatistics above ScaleReward would log scaled ones,
    so it is refused; beneath it, every same-step episode is counted whole (CartPole cut at 4 steps:
    return 4, length 4, the second and later episodes included)."""
    cfg = _cfg(reward_norm="on", n_envs=2, total_steps=64, rollout_steps=16)
    agent = agent_class("cnn").from_config(cfg.net, (4,), 2, 0)

    def envs():
        make = lambda: gym.make("CartPole-v1", max_episode_steps=4)  # noqa: E731
        return SyncVectorEnv([make, make], autoreset_mode=AutoresetMode.SAME_STEP)

    above = RecordEpisodeStatistics(ScaleReward(envs(), cfg.ppo.gamma))
    with pytest.raises(ValueError, match="RecordEpisodeStatistics before ScaleReward"):
        Trainer(above, agent, cfg, tmp_path / "a")
    trainer = Trainer(ScaleReward(RecordEpisodeStatistics(envs()), cfg.ppo.gamma), agent, cfg, tmp_path / "b")
    trainer.start_episodes()
    trainer.collect()
    assert trainer.episodes.count == 2 * 16 // 4
    assert set(trainer.episodes.returns) == {4.0} and set(trainer.episodes.lengths) == {4}


def test_a_library_resume_keeps_an_annealed_schedule(tmp_path):
    from helmrl.errors import ConfigError

    cfg = _cfg(anneal_lr=True, total_steps=48)
    Trainer.from_config(cfg, tmp_path, progress=False).train()
    longer = Trainer.from_config(cfg.replace(total_steps=96), tmp_path, progress=False)
    with pytest.raises(ConfigError, match="anneals its learning rate"):
        longer.train(resume=True)
