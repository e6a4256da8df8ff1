"""The frozen history stage, one for HELM, HELMv2 and SHELM: an input map, then the frozen LM's
streaming memory.

    x_t = input_map(o_t)     (B, m) or, k inputs per step, (B, k, m)
    h_t = PLT(x_1 .. x_t)    the chosen layers' states at the step's last input

The input maps differ (FrozenHopfield in ``frozen_history``; CLIP features or CLIP's top-k
tokens in ``vision_history``); everything else is this class: the memory, sized per ``reset``,
the cache of per-observation work, the move to a device, and one ``forward`` per env step.
Nothing here trains, so the trainer runs it once per observation and stores the result; PPO
never runs the LM. It is a module of its own (not part of an agent): ``.to(device)`` and
``.eval()`` reach the LM, while the agent's ``state_dict()`` and the optimizer never see it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from .lm_memory import StreamingLMMemory, make_lm_memory
from .multi_token_memory import MultiTokenMemory
from .observation_cache import ObservationCache


class HistoryStage(nn.Module):
    """h_t for every env from its raw observations; a subclass gives ``inputs(obs)``."""

    #: LM inputs per env step (SHELM: its top-k tokens); the memory then holds mem_len inputs
    tokens_per_step: int = 1

    def __init__(
        self,
        lm_model: nn.Module,
        mem_len: int,
        n_sink: int,
        dtype: torch.dtype = torch.float32,
        implementation: str = "auto",
        cache_size: int = 32768,
        layers: tuple[int, ...] | None = None,
    ):
        super().__init__()
        self.lm = lm_model.eval().requires_grad_(False)
        self.mem_len, self.n_sink, self.dtype, self.implementation = mem_len, n_sink, dtype, implementation
        n_layers = lm_model.config.num_hidden_layers
        self.layers = tuple(layers) if layers is not None else (n_layers,)
        if any(not 0 <= k <= n_layers for k in self.layers):
            raise ValueError(f"history layers must be in 0..{n_layers}, got {self.layers}")
        self.width = lm_model.get_input_embeddings().weight.shape[1]
        self.out_dim = self.width * len(self.layers)
        # the per-observation part of the input map is a fixed function of the observation, and
        # observations repeat a lot (egocentric grid views): cached by a digest of the raw one
        self.cache_size = cache_size
        self._cache = ObservationCache(cache_size)
        self.memory: StreamingLMMemory | MultiTokenMemory | None = None
        #: n_envs -> the memory to step; None: this process's own LM (``make_lm_memory``). A seed
        #: group's members set it to their share of one LM stepped for all (``helmrl.frozen.shared_lm``).
        self.memory_factory: Callable[[int], StreamingLMMemory] | None = None

    @property
    def device(self) -> torch.device:
        return self.lm.get_input_embeddings().weight.device

    def _apply(self, fn, recurse=True):  # nn.Module's hook behind .to() and .cuda()
        # The memory holds re-laid-out (and, on CPU, pre-packed) copies of the LM's weights:
        # after a move it is rebuilt by the next reset().
        self.memory = None
        self._cache.clear()
        return super()._apply(fn, recurse)

    def reset(self, n_envs: int) -> None:
        """Forget every env's history (and size the memory for ``n_envs``)."""
        if self.memory is None or self.memory.n_envs != n_envs:
            if self.memory_factory is not None:
                inner = self.memory_factory(n_envs)
            else:
                inner = make_lm_memory(
                    self.lm,
                    n_envs,
                    self.mem_len,
                    self.n_sink,
                    self.dtype,
                    self.implementation,
                    layers=self.layers,
                )
            self.memory = (
                inner if self.tokens_per_step == 1 else MultiTokenMemory(inner, self.tokens_per_step)
            )
        self.memory.reset()
        self._cache.clear()  # results must not depend on what ran before (resume, eval)

    def inputs(self, obs: Tensor) -> Tensor:
        """This step's LM inputs for raw observations (B, ...): (B, m), or (B, k, m) for k > 1."""
        raise NotImplementedError

    def step(self, obs: Tensor, episode_start: Tensor) -> Tensor:
        """One memory step (inside inference mode); a subclass may post-process the states."""
        assert self.memory is not None
        return self.memory(self.inputs(obs), episode_start.to(self.device))

    def forward(self, obs: Tensor, episode_start: Tensor) -> Tensor:
        """(B, ...) raw observations and (B,) episode starts -> (B, out_dim) float32 histories."""
        if self.memory is None:
            raise RuntimeError("call reset(n_envs) before the first step")
        with torch.inference_mode():
            out = self.step(obs, episode_start)
        return out.clone()  # outside inference mode: a normal tensor, storable in the rollout
