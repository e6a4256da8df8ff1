"""PPO's two phases as free functions, as CleanRL writes them: ``collect`` plays T steps in N envs
with the current policy, ``update`` runs the epochs of clipped-surrogate minibatches on what it
collected. All state passes explicitly: the acting loop (envs, next observation, recurrent state),
the agent and its optimizer. ``helmrl.ppo.trainer.Trainer`` only orchestrates them (logging,
checkpoints, signals).

HELM's frozen history is part of the observation (``FrozenHistoryObservation``), computed once
per step in ``collect``; ``update`` never runs the LM, it reads the stored histories.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import NonFiniteError
from ..models.agents import Agent
from .acting import ActingLoop
from .config import PPOConfig
from .loss import ppo_loss
from .metrics import STAT_NAMES
from .rollout import (
    Rollout,
    compute_gae,
    episode_segments,
    minibatch_indices,
    segment_minibatches,
    select,
    select_segments,
)


@dataclass
class Episodes:
    """The episodes that ended during a rollout: the envs' own returns and lengths, from
    gymnasium's ``RecordEpisodeStatistics`` (under any reward scaler)."""

    returns: list[float]
    lengths: list[int]


def collect(loop: ActingLoop, n_steps: int, ppo: PPOConfig) -> tuple[Rollout, Episodes]:
    """``n_steps`` steps in every env with the current policy (no gradients), then GAE(λ) with
    the bootstrap value of the next observation. Under ``bootstrap_truncated``, where an episode
    hits its time limit the stored reward gains γ·V(final observation), as Stable-Baselines3 does."""
    T, N, dev, agent = n_steps, loop.n_envs, loop.device, loop.agent
    assert agent is not None
    initial_state = {k: v.clone() for k, v in loop.agent_state.items()}
    obs = {
        k: torch.zeros((T, *loop.next_obs[k].shape), dtype=loop.next_obs[k].dtype, device=dev)
        for k in agent.obs_keys
    }
    starts = torch.zeros((T, N), dtype=torch.bool, device=dev)
    actions = torch.zeros((T, N), dtype=torch.long, device=dev)
    logprobs, values = torch.zeros((T, N), device=dev), torch.zeros((T, N), device=dev)
    rewards = np.zeros((T, N), dtype=np.float32)
    episodes = Episodes([], [])
    for t in range(T):
        s = loop.step()
        for k in agent.obs_keys:
            obs[k][t] = s.obs[k]
        starts[t], actions[t], logprobs[t], values[t] = s.start, s.action, s.logprob, s.value
        if "_episode" in s.info:  # RecordEpisodeStatistics: the envs' own rewards
            for i in np.flatnonzero(s.info["_episode"]):
                episodes.returns.append(float(s.info["episode"]["r"][i]))
                episodes.lengths.append(int(s.info["episode"]["l"][i]))
        rewards[t] = s.reward  # scaled where ScaleReward wraps the envs
        if ppo.bootstrap_truncated and s.truncated is not None and s.truncated.any():
            ended = np.flatnonzero(s.truncated)  # r += γ·V(final obs), in the scaled units
            rewards[t, ended] += ppo.gamma * loop.final_value(s, ended).float().cpu().numpy()
    rollout = Rollout(obs, starts, actions, logprobs, values, torch.as_tensor(rewards).to(dev), initial_state)
    rollout.advantages, rollout.returns = compute_gae(
        rollout.rewards, values, starts, loop.next_value(), loop.next_start, ppo.gamma, ppo.gae_lambda
    )
    return rollout, episodes


def update(
    agent: Agent,
    optimizer: torch.optim.Optimizer,
    rollout: Rollout,
    ppo: PPOConfig,
    n_minibatches: int | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """``ppo.epochs`` passes over ``rollout`` in minibatches: random single samples, or, for
    recurrent agents (and any agent under ``ppo.env_minibatches``), groups of whole env rollouts
    (``n_minibatches``, default ppo's) or, for recurrent agents, of ``segments_per_minibatch``
    episode segments. Raises NonFiniteError before an optimizer step
    whose loss or gradient is not finite. ``generator``: the minibatch order's RNG (None: torch's
    global one). Returns the means of ``STAT_NAMES`` over the minibatches."""
    n_minibatches = n_minibatches or ppo.n_minibatches
    segments = None
    if agent.recurrent and ppo.segments_per_minibatch > 0:
        segments = episode_segments(rollout.starts)  # once per update
    totals = []
    for _ in range(ppo.epochs):
        if segments is not None:
            groups = segment_minibatches(segments, ppo.segments_per_minibatch, generator)
            batches = (select_segments(rollout, group) for group in groups)
        else:
            T, N = rollout.actions.shape
            by_env = agent.recurrent or ppo.env_minibatches
            picks = minibatch_indices(T, N, n_minibatches, by_env, generator)
            batches = (select(rollout, t_idx, e_idx) for t_idx, e_idx in picks)
        for mb in batches:
            loss, stats, terms = ppo_loss(
                agent,
                mb,
                clip_coef=ppo.clip_coef,
                ent_coef=ppo.ent_coef,
                vf_coef=ppo.vf_coef,
                norm_adv=ppo.norm_adv,
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(agent.parameters(), ppo.max_grad_norm)
            # one host sync per minibatch, before the step (a non-finite loss's gradient is dropped)
            check_finite(terms | {"loss": loss, "gradient norm": grad_norm})
            optimizer.step()
            totals.append(stats["stats"])
    means = torch.stack(totals).mean(0).tolist()  # one device sync per update
    return dict(zip(STAT_NAMES, means, strict=True))


def check_finite(terms: dict[str, torch.Tensor]) -> None:
    """One device sync for all terms; the names are looked up only when one is not finite."""
    values = torch.cat([v.detach().float().reshape(-1) for v in terms.values()])
    if bool(torch.isfinite(values).all()):
        return
    bad = [name for name, value in terms.items() if not bool(torch.isfinite(value).all())]
    if bad:
        raise NonFiniteError(f"non-finite {bad[0]}")
