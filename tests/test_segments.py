"""Episode-segment minibatches for recurrent agents (the authors' Impala-PPO): the segments cover
the rollout once, cut exactly at episode starts, and a masked minibatch of them gives the loss that
whole-env replay gives on the same steps."""

from __future__ import annotations

import pytest
import torch

from helmrl.config import TrainConfig
from helmrl.models.agents import LSTMAgent
from helmrl.ppo.loss import ppo_loss
from helmrl.ppo.rollout import Rollout, episode_segments, segment_minibatches, select, select_segments
from helmrl.ppo.trainer import Trainer


def test_segments_cover_every_step_once_and_cut_at_episode_starts() -> None:
    starts = torch.zeros(6, 3, dtype=torch.bool)
    starts[0, 0] = starts[2, 0] = starts[5, 0] = True  # env 0: [0, 2), [2, 5), [5, 6)
    starts[3, 2] = True  # env 1: one segment; env 2: [0, 3), [3, 6)
    assert episode_segments(starts) == [(0, 0, 2), (0, 2, 5), (0, 5, 6), (1, 0, 6), (2, 0, 3), (2, 3, 6)]
    torch.manual_seed(0)
    groups = list(segment_minibatches(episode_segments(starts), 4))
    assert [len(g) for g in groups] == [4, 2]
    assert sorted(s for g in groups for s in g) == sorted(episode_segments(starts))


def _rollout(T: int = 12, N: int = 3, obs_dim: int = 4, n_actions: int = 3) -> tuple[LSTMAgent, Rollout]:
    torch.manual_seed(1)
    agent = LSTMAgent((obs_dim,), n_actions, hidden=16)
    starts = torch.rand(T, N) < 0.25
    ro = Rollout(
        obs={"observation": torch.randn(T, N, obs_dim)},
        starts=starts,
        actions=torch.randint(0, n_actions, (T, N)),
        logprobs=torch.randn(T, N) * 0.1 - 1.1,
        values=torch.randn(T, N),
        rewards=torch.randn(T, N),
        initial_state={"h": torch.randn(N, 16), "c": torch.randn(N, 16)},
        advantages=torch.randn(T, N),
        returns=torch.randn(T, N),
    )
    return agent, ro


def test_masked_segments_give_the_whole_env_loss() -> None:
    agent, ro = _rollout()
    T, N = ro.actions.shape
    kw = dict(clip_coef=0.2, ent_coef=0.05, vf_coef=0.5)
    whole, whole_stats, _ = ppo_loss(agent, select(ro, slice(None), torch.arange(N)), **kw)
    segments = episode_segments(ro.starts)
    assert len(segments) > N  # the rollout has episode starts inside it
    mb = select_segments(ro, segments[::-1])  # every segment in one minibatch, in another order
    assert mb.mask.sum() == T * N and mb.mask.shape[1] == len(segments)
    masked, masked_stats, _ = ppo_loss(agent, mb, **kw)
    torch.testing.assert_close(masked, whole, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(masked_stats["stats"], whole_stats["stats"], atol=1e-5, rtol=1e-5)


def test_a_segment_after_an_episode_start_ignores_the_rollout_start_state() -> None:
    agent, ro = _rollout()
    env, a, b = next(s for s in episode_segments(ro.starts) if s[1] > 0)
    first = select_segments(ro, [(env, a, b)])
    ro.initial_state = {k: v + 5.0 for k, v in ro.initial_state.items()}
    second = select_segments(ro, [(env, a, b)])
    with torch.no_grad():
        la, va = agent.evaluate(first.obs, first.initial_state, first.starts)
        lb, vb = agent.evaluate(second.obs, second.initial_state, second.starts)
    torch.testing.assert_close(la, lb)
    torch.testing.assert_close(va, vb)


@pytest.mark.parametrize("agent", ["lstm", "cnn"])
def test_the_trainer_updates_on_segments(agent, tmp_path, capsys, monkeypatch) -> None:
    cfg = TrainConfig(
        env_id="CartPole-v1",
        agent=agent,
        n_envs=4,
        rollout_steps=32,
        total_steps=256,
        segments_per_minibatch=3,
        torch_threads=1,
    ).validate()
    tr = Trainer.from_config(cfg, tmp_path, progress=False)
    import helmrl.ppo.core as core

    masked, real = [], core.ppo_loss

    def spy(agent, mb, **kw):
        masked.append(mb.mask is not None)
        return real(agent, mb, **kw)

    monkeypatch.setattr(core, "ppo_loss", spy)
    result = tr.train()
    assert result.global_step == 256
    assert masked and all(m == (agent == "lstm") for m in masked)
    noted = "segments_per_minibatch applies to recurrent agents" in capsys.readouterr().out
    assert noted == (agent == "cnn")
