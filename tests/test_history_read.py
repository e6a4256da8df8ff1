"""HELM's trainable reads of the frozen history (history_read="attention" and "window"): the acting
step and the PPO update's replay compute the same read, episode starts mask the past, and it trains."""

from __future__ import annotations

import pytest
import torch

from helmrl.models.agents import agent_class
from helmrl.models.configs import NetConfig
from helmrl.observation_keys import HISTORY, OBSERVATION

from .conftest import tiny_llama

READS = ("attention", "window")


def _agent(window: int = 4, history_dim: int = 8, read: str = "attention"):
    torch.manual_seed(0)
    net = NetConfig(history_read=read, read_window=window)
    return agent_class("helm").from_config(net, (5,), 2, history_dim)


def _rollout(T: int, N: int, m: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    obs = {HISTORY: torch.randn(T, N, m, generator=g), OBSERVATION: torch.rand(T, N, 5, generator=g)}
    starts = torch.zeros(T, N, dtype=torch.bool)
    for t, n in ((0, 0), (3, 1), (4, 1), (9, 2)):
        if t < T:
            starts[t, n] = True
    return obs, starts


def _act(agent, obs, starts, state):
    """The acting loop's way: one step at a time, carrying the state."""
    logits, values = [], []
    for t in range(starts.shape[0]):
        lg, v, state = agent({k: x[t] for k, x in obs.items()}, state, starts[t])
        logits.append(lg)
        values.append(v)
    return torch.stack(logits), torch.stack(values), state


@pytest.mark.parametrize("read", READS)
def test_the_update_replays_exactly_the_reads_the_acting_steps_made(read):
    agent = _agent(read=read)
    assert agent.recurrent
    warm, warm_starts = _rollout(6, 3, seed=1)  # a window that holds an earlier rollout's states
    with torch.no_grad():
        _, _, state = _act(agent, warm, warm_starts, agent.initial_state(3))
        obs, starts = _rollout(12, 3)
        logits, values, _ = _act(agent, obs, starts, state)
        replay_logits, replay_values = agent.evaluate(obs, state, starts)
    torch.testing.assert_close(replay_logits, logits, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(replay_values, values.squeeze(-1), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("read", READS)
def test_an_episode_start_hides_everything_before_it(read):
    agent = _agent(read=read)
    obs, starts = _rollout(10, 3)
    other = {k: v.clone() for k, v in obs.items()}
    other[HISTORY][:3, 1] += 5.0  # env 1's states before its episode start at step 3
    with torch.no_grad():
        a, _ = agent.evaluate(obs, agent.initial_state(3), starts)
        b, _ = agent.evaluate(other, agent.initial_state(3), starts)
    assert torch.equal(a[3:, 1], b[3:, 1])  # from the start on, env 1 cannot see them
    assert not torch.equal(a[:3, 1], b[:3, 1])  # before it, they were its history


def test_the_offset_bias_can_read_exactly_k_steps_back():
    agent = _agent(window=6)
    k = 3
    with torch.no_grad():
        agent.read.offset_bias.fill_(-50.0)
        agent.read.offset_bias[k] = 50.0
        obs, _ = _rollout(8, 2)
        starts = torch.zeros(8, 2, dtype=torch.bool)
        state = agent.initial_state(2)
        window_states = []
        for t in range(8):
            features = agent.encoder(obs[OBSERVATION][t])
            _, _, state = agent({kk: x[t] for kk, x in obs.items()}, state, starts[t])
            window_states.append(agent.read.step(features, state["window"], state["valid"]))
        expected = agent.read.value(agent.read.norm(obs[HISTORY][7 - k]))
    torch.testing.assert_close(window_states[7], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("read", READS)
def test_helm_with_each_read_trains(tmp_path, read):
    from helmrl.config import TrainConfig
    from helmrl.ppo.trainer import Trainer

    cfg = TrainConfig(
        env_id="CueRecall-v0", agent="helm", history_read=read, read_window=6, n_envs=2,
        rollout_steps=8, n_minibatches=2, total_steps=32, mem_len=8, n_sink=1, frozen_dtype="float32",
    )  # fmt: skip
    trainer = Trainer.from_config(cfg, tmp_path, progress=False, lm_model=tiny_llama())
    result = trainer.train()
    assert result.global_step == 32 and not result.interrupted
    assert trainer.agent.read.value.weight.grad is not None  # the read trained


def test_an_adam_step_moves_the_steps_back_bias_gain_times_the_learning_rate():
    """Adam moves a parameter by about its learning rate per update whatever its gradient, so the
    bias gain is what lets attention single out one state within a run's few thousand updates."""
    lr = 1e-3
    for gain in (1.0, 32.0):
        torch.manual_seed(0)
        net = NetConfig(history_read="attention", read_window=6, read_offset_gain=gain)
        agent = agent_class("helm").from_config(net, (5,), 2, 8)
        obs, starts = _rollout(12, 3)
        logits, values = agent.evaluate(obs, agent.initial_state(3), starts)
        (logits[..., 0].sum() + values.sum()).backward()
        before = gain * agent.read.offset_bias.detach().clone()
        torch.optim.Adam(agent.parameters(), lr=lr).step()
        moved = (gain * agent.read.offset_bias.detach() - before).abs()
        torch.testing.assert_close(moved, torch.full_like(moved, gain * lr), rtol=1e-3, atol=0.0)


def test_a_config_saved_before_the_bias_gain_loads_the_plain_bias_it_trained():
    from helmrl.config import TrainConfig

    now = TrainConfig(env_id="CueRecall-v0", agent="helm", history_read="attention")
    assert now.net.read_offset_gain == 32.0
    old = now.to_dict()
    del old["read_offset_gain"]
    assert TrainConfig.from_dict(old).net.read_offset_gain == 1.0


def test_the_window_read_gives_each_steps_back_a_slot_of_its_own():
    """Slot j of the read is V(LN(h_{t-W+1+j})): the state k steps back is in slot W-1-k, whatever
    the other states are, and a slot before the episode's start is zero."""
    W, dim = 5, 8
    agent = _agent(window=W, read="window")
    obs, _ = _rollout(7, 2)
    starts = torch.zeros(7, 2, dtype=torch.bool)
    starts[4, 1] = True
    with torch.no_grad():
        state = agent.initial_state(2)
        for t in range(7):
            _, _, state = agent({k: x[t] for k, x in obs.items()}, state, starts[t])
        read = agent.read.step(None, state["window"], state["valid"]).view(2, W, dim)
        for k in range(W):
            expected = agent.read.value(agent.read.norm(obs[HISTORY][6 - k]))
            torch.testing.assert_close(read[0, W - 1 - k], expected[0])
        torch.testing.assert_close(read[1, W - 3 :], agent.read.value(agent.read.norm(obs[HISTORY][4:, 1])))
        assert not read[1, : W - 3].any()  # env 1's steps before its episode started at step 4
