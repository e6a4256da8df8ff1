"""PPO's rollout buffer: T steps of N envs as (T, N, ...) tensors, GAE, and minibatches.

Recurrent agents are updated on whole per-env sequences (minibatches are groups of envs, each
replayed from the state its rollout started with, as in CleanRL's ppo_atari_lstm and sb3-contrib's
RecurrentPPO), or on episode segments (each env's rollout cut at its episode starts, a fixed number
of segments per minibatch, zero-padded and masked: the authors' Impala-PPO, whose minibatches hold
8 segments); the others on random single samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..models.agents import Observation, State


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
    mask: torch.Tensor | None = None  # (T', n) bool: the steps a padded minibatch really holds


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


def minibatch_indices(
    T: int, N: int, n_minibatches: int, recurrent: bool, generator: torch.Generator | None = None
):
    """Recurrent agents: groups of whole env-trajectories. Others: random single samples.
    Yields (time index or slice, env index); ``generator`` None: torch's global CPU RNG."""
    if recurrent:
        for chunk in torch.randperm(N, generator=generator).tensor_split(min(n_minibatches, N)):
            yield slice(None), chunk
    else:
        for chunk in torch.randperm(T * N, generator=generator).tensor_split(min(n_minibatches, T * N)):
            yield chunk // N, chunk % N


def episode_segments(starts: torch.Tensor) -> list[tuple[int, int, int]]:
    """(env, t0, t1) for each run of steps [t0, t1) of one env's rollout between episode starts
    (``starts[t]``: obs t opened an episode). Every (t, env) lies in exactly one segment, and a
    segment with t0 > 0 opens an episode, so replaying it from any state gives the same outputs."""
    T, N = starts.shape
    cpu = starts.detach().bool().cpu()
    segments = []
    for env in range(N):
        cuts = [0, *(int(t) for t in torch.nonzero(cpu[1:, env]).flatten() + 1), T]
        segments += [(env, a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    return segments


def segment_minibatches(
    segments: list[tuple[int, int, int]], per_minibatch: int, generator: torch.Generator | None = None
):
    """Random groups of ``per_minibatch`` of ``segments`` (``episode_segments``; the last group may
    be smaller): as the authors' recurrent buffer, so early on, when episodes outlast the rollout,
    there are few large minibatches, and later, with short episodes, many. ``generator`` None:
    torch's global CPU RNG."""
    order = torch.randperm(len(segments), generator=generator)
    for chunk in order.split(per_minibatch):
        yield [segments[i] for i in chunk.tolist()]


def select_segments(rollout: Rollout, segments: list[tuple[int, int, int]]) -> Rollout:
    """A minibatch of episode segments as (L, n) tensors, L the longest segment: segment j's steps
    fill column j from row 0 and ``mask`` marks them; the rows past a segment's end repeat its last
    step and are masked out of the loss. Each column starts from its env's rollout-start state,
    which the agent zeroes where the segment opens an episode (every segment but a rollout's first)."""
    device = rollout.actions.device
    env = torch.tensor([e for e, _, _ in segments], device=device)
    t0 = torch.tensor([a for _, a, _ in segments], device=device)
    length = torch.tensor([b - a for _, a, b in segments], device=device)
    steps = torch.arange(int(length.max()), device=device)[:, None]  # (L, 1)
    mask = steps < length[None, :]
    t_idx = t0[None, :] + torch.minimum(steps, length[None, :] - 1)
    e_idx = env[None, :].expand_as(t_idx)
    state = {k: v[env] for k, v in rollout.initial_state.items()}
    return _gather(rollout, lambda x: x[t_idx, e_idx], state, mask)


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

    state = {k: v[e_idx] for k, v in rollout.initial_state.items()} if whole else {}
    return _gather(rollout, pick, state)


def _gather(rollout: Rollout, pick, state: State, mask: torch.Tensor | None = None) -> Rollout:
    """The minibatch ``pick`` takes from every (T, N, ...) tensor of ``rollout``."""
    out = {name: None if (x := getattr(rollout, name)) is None else pick(x) for name in TENSOR_FIELDS}
    obs = {k: pick(v) for k, v in rollout.obs.items()}
    return Rollout(obs, **out, initial_state=state, mask=mask)
