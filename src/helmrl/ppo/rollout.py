"""PPO's rollout buffer: T steps of N envs as (T, N, ...) tensors, GAE, and minibatches.

Recurrent agents are updated on whole per-env sequences (minibatches are groups of envs, each
replayed from the state its rollout started with, as in CleanRL's ppo_atari_lstm and sb3-contrib's
RecurrentPPO); the others on random single samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..models import Observation, State


@dataclass
class Rollout:
    """T steps of N envs. Tensors are (T, N, ...) on the training device."""

    obs: Observation  # the keys the agent reads; HELM's "history" is computed once per obs
    starts: torch.Tensor
    actions: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor  # scaled when reward normalisation is on
    initial_state: State  # the agent's state before step 0 (recurrent agents replay from it)
    advantages: torch.Tensor | None = None
    returns: torch.Tensor | None = None


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    starts: torch.Tensor,
    next_value: torch.Tensor,
    next_start: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE(λ) over (T, N) tensors; ``starts[t]`` = obs t opened an episode (so t-1 ended one)."""
    T = rewards.shape[0]
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(next_value)
    for t in reversed(range(T)):
        nonterminal = 1.0 - (next_start if t == T - 1 else starts[t + 1]).float()
        v_next = next_value if t == T - 1 else values[t + 1]
        delta = rewards[t] + gamma * v_next * nonterminal - values[t]
        last = delta + gamma * lam * nonterminal * last
        adv[t] = last
    return adv, adv + values


def minibatch_indices(T: int, N: int, n_minibatches: int, recurrent: bool):
    """Recurrent agents: groups of whole env-trajectories. Others: random single samples.
    Yields (time index or slice, env index); uses torch's CPU RNG."""
    if recurrent:
        for chunk in torch.randperm(N).tensor_split(min(n_minibatches, N)):
            yield slice(None), chunk
    else:
        for chunk in torch.randperm(T * N).tensor_split(min(n_minibatches, T * N)):
            yield chunk // N, chunk % N


TENSOR_FIELDS = (
    "starts",
    "actions",
    "logprobs",
    "values",
    "rewards",
    "advantages",
    "returns",
)


def select(rollout: Rollout, t_idx: slice | torch.Tensor, e_idx: torch.Tensor) -> Rollout:
    """A minibatch as (T', n) tensors: whole env sequences (t_idx a slice, with the state they
    started from) or single samples (T' = 1)."""
    device = rollout.actions.device
    e_idx = e_idx.to(device)
    whole = isinstance(t_idx, slice)
    if not whole:
        t_idx = t_idx.to(device)

    def pick(x: torch.Tensor) -> torch.Tensor:
        return x[:, e_idx] if whole else x[t_idx, e_idx][None]

    out = {name: None if (x := getattr(rollout, name)) is None else pick(x) for name in TENSOR_FIELDS}
    obs = {k: pick(v) for k, v in rollout.obs.items()}
    state = {k: v[e_idx] for k, v in rollout.initial_state.items()} if whole else {}
    return Rollout(obs, **out, initial_state=state)
