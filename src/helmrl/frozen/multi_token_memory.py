"""k LM inputs per env step (SHELM feeds its top-k tokens): the streaming memory, stepped k times.

For env b at episode step t, input j (0 <= j < k) is the episode's token i = k·t + j, and the
memory's rules apply to tokens (``helmrl.frozen.lm_memory``): token i attends to tokens
j <= i of the same episode with j < n_sink or i - j < mem_len - n_sink, at position i. So the
memory holds ``mem_len`` tokens, i.e. mem_len / k steps (the authors: k = 4 and 1021 slots),
and the step's output is the state at its last input, which has attended to all k of them.
This equals one full-sequence forward of the episode's k·T tokens with that mask; k = 1 is
exactly the memory itself (HELMv2, HELM).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .lm_memory import StreamingLMMemory


class MultiTokenMemory:
    """Wraps a ``StreamingLMMemory``: ``(n_envs, k, m)`` inputs and episode starts per call."""

    def __init__(self, memory: StreamingLMMemory, tokens_per_step: int):
        if tokens_per_step < 1:
            raise ValueError(f"tokens_per_step must be >= 1, got {tokens_per_step}")
        self.inner, self.k = memory, tokens_per_step
        self.n_envs, self.out_dim, self.hidden_size = memory.n_envs, memory.out_dim, memory.hidden_size

    def reset(self) -> None:
        """Forget every env's history."""
        self.inner.reset()

    @torch.inference_mode()
    def __call__(self, x: Tensor, episode_start: Tensor) -> Tensor:
        """x: (n_envs, k, m) this step's inputs in order; episode_start: (n_envs,) -> (n_envs, out_dim)."""
        if x.ndim != 3 or x.shape[:2] != (self.n_envs, self.k):
            raise ValueError(f"expected inputs ({self.n_envs}, {self.k}, m), got {tuple(x.shape)}")
        go_on = torch.zeros_like(episode_start, dtype=torch.bool)
        out = self.inner(x[:, 0], episode_start)
        for j in range(1, self.k):
            out = self.inner(x[:, j], go_on)
        return out

    @torch.inference_mode()
    def snapshot_step(self, episode_start: Tensor) -> tuple[Tensor, ...]:
        """What the next call with ``episode_start`` will overwrite: positions, validity and the k
        key/value slots per env it writes."""
        mem = self.inner
        start = episode_start.to(mem.device, torch.bool)
        first = torch.where(start, torch.zeros_like(mem.position), mem.position)
        slots = [mem._slot_of(first + j) for j in range(self.k)]
        saved = [
            (s, mem.keys[:, mem._env_index, :, s].clone(), mem.values[:, mem._env_index, :, s].clone())
            for s in slots
        ]
        return mem.position.clone(), mem.valid.clone(), *saved  # type: ignore[return-value]

    @torch.inference_mode()
    def restore_step(self, saved: tuple[Tensor, ...]) -> None:
        """Undo the call made after ``snapshot_step``: the memory is exactly as it was."""
        mem = self.inner
        position, valid, *slots = saved
        mem.position.copy_(position)
        mem.valid.copy_(valid)
        for slot, keys, values in slots:  # saved before any write: a slot listed twice holds its old value
            mem.keys[:, mem._env_index, :, slot] = keys
            mem.values[:, mem._env_index, :, slot] = values
