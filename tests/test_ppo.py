"""PPO: the update sees exactly what the rollout saw; gradients reach only trainable parts."""

import pytest
import torch
from torch.distributions import Categorical

from helmrl.config import TrainConfig
from helmrl.models import LSTMAgent
from helmrl.ppo import Trainer, compute_gae
from helmrl.ppo.trainer import _select


def _trainer(agent, tmp_path, lm_dir, env="CartPole-v1", **kw):
    cfg = TrainConfig(
        env_id=env,
        agent=agent,
        lm=str(lm_dir),
        n_envs=4,
        rollout_steps=40,
        n_minibatches=2,
        total_steps=160,
        mem_len=8,
        n_sink=2,
        **kw,
    ).validate()
    return Trainer(cfg, tmp_path, progress=False)


@pytest.mark.parametrize(
    "agent,env",
    [
        ("helm", "CartPole-v1"),
        ("lstm", "CartPole-v1"),
        ("cnn", "CartPole-v1"),
        ("helm", "MiniGrid-Empty-5x5-v0"),
        ("lstm", "MiniGrid-Empty-5x5-v0"),
    ],
)
def test_ratio_is_one_before_the_first_gradient_step(agent, env, tmp_path, tiny_llama_dir):
    tr = _trainer(agent, tmp_path, tiny_llama_dir, env=env)
    tr._sync()
    tr.collect_rollout()  # a second rollout starts from carried-over memory, not a reset
    data, context = tr.collect_rollout()
    T, N = data["actions"].shape
    if env == "CartPole-v1":
        assert data["starts"][1:].any(), "the rollout should cross episode boundaries"
    seen = torch.zeros(T, N, dtype=torch.bool)
    with torch.no_grad():
        for t_idx, e_idx in tr._minibatches(T, N):
            mb = _select(data, t_idx, e_idx)
            ctx = {k: v[e_idx] for k, v in context.items()}
            logits, value = tr.agent.evaluate(mb["obs"], mb["extras"], mb["starts"], ctx)
            logp = Categorical(logits=logits).log_prob(mb["actions"])
            torch.testing.assert_close(logp, mb["logprobs"], atol=1e-5, rtol=0)
            stored = (
                data["values"][:, e_idx] if isinstance(t_idx, slice) else data["values"][t_idx, e_idx][None]
            )
            torch.testing.assert_close(value, stored, atol=1e-5, rtol=0)
            seen[t_idx, e_idx] = True
    assert seen.all()


@pytest.mark.parametrize("agent", ["helm", "lstm", "cnn"])
def test_recomputed_values_match_rollout(agent, tmp_path, tiny_llama_dir):
    tr = _trainer(agent, tmp_path, tiny_llama_dir)
    tr._sync()
    data, context = tr.collect_rollout()
    with torch.no_grad():
        _, value = tr.agent.evaluate(data["obs"], data["extras"], data["starts"], context)
    torch.testing.assert_close(value, data["values"], atol=1e-5, rtol=0)


def test_gradients_reach_cnn_and_heads_never_the_lm(tmp_path, tiny_llama_dir):
    tr = _trainer("helm", tmp_path, tiny_llama_dir, env="MiniGrid-Empty-5x5-v0")
    tr._sync()
    data, context = tr.collect_rollout()
    with torch.no_grad():
        nv = tr.agent.peek_value(tr.next_obs, tr.next_start)
    data["advantages"], data["returns"] = compute_gae(
        data["rewards"], data["values"], data["starts"], nv, tr.next_start, 0.99, 0.95
    )
    from helmrl.ppo.trainer import ppo_loss

    loss, _, _ = ppo_loss(tr.agent, tr.cfg, _select(data, slice(None), torch.arange(4)), {})
    loss.backward()
    enc = [p.grad for p in tr.agent.encoder.parameters()]
    head = [p.grad for p in tr.agent.head.parameters()]
    assert all(g is not None for g in enc + head)
    assert any(g.abs().sum() > 0 for g in enc) and any(g.abs().sum() > 0 for g in head)
    lm_params = list(tr.agent.frozen.lm_model.parameters())
    assert all(p.grad is None and not p.requires_grad for p in lm_params)
    opt_ids = {id(p) for g in tr.optimizer.param_groups for p in g["params"]}
    assert not opt_ids & {id(p) for p in lm_params}
    assert "frozen" not in "".join(tr.agent.state_dict())  # checkpoints hold no LM weights


def test_lstm_state_zeroed_for_the_env_whose_episode_ended_only():
    torch.manual_seed(0)
    agent = LSTMAgent((4,), 2)
    agent.reset_memory(3)
    obs = torch.randn(6, 3, 4)
    for t in range(5):
        agent.act(obs[t], torch.zeros(3, dtype=torch.bool))
    before = agent.memory_context()
    assert (before["h"].abs().sum(1) > 0).all()
    logits, _, _ = agent.act(obs[5], torch.tensor([True, False, False]))
    # env 0 behaves like a fresh agent; envs 1 and 2 carry on with their own state.
    fresh = LSTMAgent((4,), 2)
    fresh.load_state_dict(agent.state_dict())
    fresh.reset_memory(3)
    fresh_logits, _, _ = fresh.act(obs[5], torch.ones(3, dtype=torch.bool))
    torch.testing.assert_close(logits[0], fresh_logits[0])
    h, _ = agent.lstm(agent.encoder(obs[5]), (before["h"], before["c"]))
    torch.testing.assert_close(agent.h[1:], h[1:])


def test_gae_matches_hand_computation():
    r = torch.tensor([[1.0], [0.0], [2.0]])
    v = torch.tensor([[0.5], [0.2], [0.1]])
    starts = torch.tensor([[False], [False], [True]])  # step 1 ended an episode
    adv, ret = compute_gae(r, v, starts, torch.tensor([0.3]), torch.tensor([False]), gamma=0.9, lam=0.5)
    d2 = 2.0 + 0.9 * 0.3 - 0.1
    d1 = 0.0 - 0.2  # terminal: no bootstrap
    d0 = 1.0 + 0.9 * 0.2 - 0.5
    expected = torch.tensor([[d0 + 0.45 * d1], [d1], [d2]])
    torch.testing.assert_close(adv, expected)
    torch.testing.assert_close(ret, expected + v)
