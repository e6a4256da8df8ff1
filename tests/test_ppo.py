"""PPO: the update sees exactly what the rollout saw; gradients reach only trainable parts."""

import pytest
import torch
from torch.distributions import Categorical

from helmrl.config import TrainConfig
from helmrl.models.agents import LSTMAgent
from helmrl.models.configs import NetConfig
from helmrl.ppo.loss import ppo_loss
from helmrl.ppo.rollout import compute_gae, minibatch_indices, select
from helmrl.ppo.trainer import Trainer


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
    return Trainer.from_config(cfg, tmp_path, progress=False)


@pytest.mark.parametrize(
    "agent,env,kw",
    [
        ("helm", "CartPole-v1", {}),
        ("lstm", "CartPole-v1", {}),
        ("cnn", "CartPole-v1", {}),
        ("helm", "MiniGrid-Empty-5x5-v0", {}),
        ("lstm", "MiniGrid-Empty-5x5-v0", {}),
        ("lstm", "MiniGrid-Empty-5x5-v0", {"lstm_skip": True}),
    ],
)
def test_ratio_is_one_before_the_first_gradient_step(agent, env, kw, tmp_path, tiny_llama_dir):
    tr = _trainer(agent, tmp_path, tiny_llama_dir, env=env, **kw)
    tr.start_episodes()
    tr.collect()  # a second rollout starts from carried-over memory, not a reset
    ro = tr.collect()
    T, N = ro.actions.shape
    if env == "CartPole-v1":
        assert ro.starts[1:].any(), "the rollout should cross episode boundaries"
    ro.advantages = ro.returns = torch.zeros(T, N)
    seen = torch.zeros(T, N, dtype=torch.bool)
    with torch.no_grad():
        for t_idx, e_idx in minibatch_indices(T, N, tr.n_minibatches, tr.agent.recurrent):
            mb = select(ro, t_idx, e_idx)
            logits, value = tr.agent.evaluate(mb.obs, mb.initial_state, mb.starts)
            torch.testing.assert_close(
                Categorical(logits=logits).log_prob(mb.actions), mb.logprobs, atol=1e-5, rtol=0
            )
            torch.testing.assert_close(value, mb.values, atol=1e-5, rtol=0)
            seen[t_idx, e_idx] = True
    assert seen.all()


def test_history_is_computed_once_per_observation(tmp_path, tiny_llama_dir):
    """The LM memory advances exactly once per env step: the bootstrap value and the next
    rollout's first step share the next observation's history."""
    tr = _trainer("helm", tmp_path, tiny_llama_dir, env="MiniGrid-Empty-5x5-v0")
    calls = {"n": 0}
    tr.start_episodes()
    real = tr.history.memory.forward

    def counting(x, start):
        calls["n"] += 1
        return real(x, start)

    tr.history.memory.forward = counting
    ro = tr.collect()
    tr.update(ro)
    bootstrap_history = tr.acting.next_history.clone()
    ro2 = tr.collect()
    assert calls["n"] == 2 * tr.cfg.ppo.rollout_steps
    # the history stored for the second rollout's first step is the one the bootstrap used
    assert torch.equal(ro2.obs["history"][0], bootstrap_history)
    assert ro2.obs["history"].shape == (tr.cfg.ppo.rollout_steps, 4, tr.history.out_dim)


@pytest.mark.parametrize("agent", ["helm", "lstm", "cnn"])
def test_gradients_reach_trainable_parts_never_the_lm(agent, tmp_path, tiny_llama_dir):
    tr = _trainer(agent, tmp_path, tiny_llama_dir, env="MiniGrid-Empty-5x5-v0")
    tr.start_episodes()
    ro = tr.collect()
    ro.advantages, ro.returns = compute_gae(
        ro.rewards, ro.values, ro.starts, tr.acting.next_value(), tr.acting.next_start, 0.99, 0.95
    )
    ro.advantages = ro.advantages + torch.randn_like(ro.advantages)  # non-zero policy gradient
    loss, _, _ = ppo_loss(
        tr.agent, select(ro, slice(None), torch.arange(4)), clip_coef=0.2, ent_coef=0.05, vf_coef=0.5
    )
    loss.backward()
    grads = [p.grad for p in tr.agent.parameters()]
    assert all(g is not None for g in grads) and all(g.abs().sum() > 0 for g in grads[-4:])
    assert any(g.abs().sum() > 0 for g in [p.grad for p in tr.agent.encoder.parameters()])
    if agent == "helm":
        lm_params = list(tr.history.lm.parameters())
        assert all(p.grad is None and not p.requires_grad for p in lm_params)
        opt_ids = {id(p) for g in tr.optimizer.param_groups for p in g["params"]}
        assert not opt_ids & {id(p) for p in lm_params}
        assert not any("lm" in k or "hopfield" in k for k in tr.agent.state_dict())
        assert not any("lm" in k for k in tr.state_dict()["agent"])


def test_lstm_skip_puts_the_current_observation_beside_the_memory():
    torch.manual_seed(0)
    agent = LSTMAgent((4,), 2, hidden=16, net=NetConfig(lstm_skip=True))
    assert agent.head.actor[0].in_features == 16 + agent.encoder.out_dim
    obs = {"observation": torch.randn(3, 4)}
    state = agent.initial_state(3)
    logits, value, after = agent(obs, state, torch.ones(3, dtype=torch.bool))
    feat = agent.encoder(obs["observation"])
    want_logits, want_value = agent.head(torch.cat([after["h"], feat], -1))
    torch.testing.assert_close(logits, want_logits)
    torch.testing.assert_close(value, want_value)
    plain = LSTMAgent((4,), 2, hidden=16)  # the authors' layout: the LSTM output alone
    assert plain.head.actor[0].in_features == 16


def test_lstm_state_zeroed_for_the_env_whose_episode_ended_only():
    torch.manual_seed(0)
    agent = LSTMAgent((4,), 2)
    state = agent.initial_state(3)
    obs = torch.randn(6, 3, 4)
    for t in range(5):
        _, _, state = agent({"observation": obs[t]}, state, torch.zeros(3, dtype=torch.bool))
    assert (state["h"].abs().sum(1) > 0).all()
    logits, _, after = agent({"observation": obs[5]}, state, torch.tensor([True, False, False]))
    # env 0 behaves like a fresh agent; envs 1 and 2 carry on with their own state.
    fresh_logits, _, _ = agent(
        {"observation": obs[5]}, agent.initial_state(3), torch.ones(3, dtype=torch.bool)
    )
    torch.testing.assert_close(logits[0], fresh_logits[0])
    h, _ = agent.lstm(agent.encoder(obs[5]), (state["h"], state["c"]))
    torch.testing.assert_close(after["h"][1:], h[1:])


@pytest.mark.parametrize("n_envs,agent", [(4, "lstm"), (3, "lstm"), (5, "cnn"), (1, "helm")])
def test_any_n_envs_works_with_default_minibatches(n_envs, agent, tmp_path, tiny_llama_dir):
    cfg = TrainConfig(
        env_id="CartPole-v1",
        agent=agent,
        lm=str(tiny_llama_dir),
        n_envs=n_envs,
        rollout_steps=8,
        total_steps=8 * n_envs * 2,
        mem_len=8,
        n_sink=2,
    ).validate()
    notes = []
    tr = Trainer.from_config(cfg, tmp_path, progress=False, log=notes.append)
    assert tr.train().global_step == 16 * n_envs
    groups = list(minibatch_indices(8, n_envs, tr.n_minibatches, tr.agent.recurrent))
    assert len(groups) == min(8, n_envs if agent == "lstm" else 8 * n_envs)
    assert bool(notes) == (agent == "lstm" and n_envs < 8)


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


def test_anneal_lr_decays_linearly_with_the_update_count(tmp_path):
    cfg = TrainConfig(
        env_id="CartPole-v1", agent="cnn", n_envs=2, rollout_steps=8, total_steps=2 * 8 * 4, lr=1e-3
    )
    seen = []
    tr = Trainer.from_config(cfg.replace(anneal_lr=True).validate(), tmp_path / "a", progress=False)
    real = tr.optimizer.step

    def spy(*args, **kwargs):
        seen.append(tr.optimizer.param_groups[0]["lr"])
        return real(*args, **kwargs)

    tr.optimizer.step = spy
    tr.train()
    per_update = sorted(set(seen), reverse=True)
    assert per_update == pytest.approx([1e-3, 0.75e-3, 0.5e-3, 0.25e-3])
    flat = Trainer.from_config(cfg.validate(), tmp_path / "b", progress=False)
    flat.train()
    assert flat.optimizer.param_groups[0]["lr"] == 1e-3
