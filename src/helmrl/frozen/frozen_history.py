"""The frozen history stage: FrozenHopfield + the frozen LM's streaming memory.

    h_t = PLT(x_1 .. x_t),   x_i = Eᵀ softmax(β · sim(E, P o_i))

One call per env step turns the new observations into each env's history representation.
Nothing here trains, so the trainer runs it once per observation during the rollout and stores
the result; the PPO update never runs the LM. It is a module of its own (not part of an agent):
``.to(device)`` and ``.eval()`` reach the LM, while the agent's ``state_dict()`` and the
optimizer never see it (it is rebuilt from the config when a run loads).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from ..errors import HistoryConfigError
from .frozen_hopfield import FrozenHopfield, observation_to_vector
from .history_config import HistoryConfig, parse_history_layer
from .lm_memory import StreamingLMMemory, make_lm_memory
from .observation_cache import ObservationCache

if TYPE_CHECKING:
    from .vision_history import VisionHistory


class FrozenHistory(nn.Module):
    """h_t for every env from its raw observations; see the module docstring. Build it from a
    ``HistoryConfig`` with ``build_frozen_history`` or directly from an LM module."""

    def __init__(
        self,
        lm_model: nn.Module,
        obs_dim: int,
        beta: float,
        mem_len: int,
        n_sink: int,
        similarity: str = "cosine",
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
        implementation: str = "auto",
        cache_size: int = 32768,
        layers: tuple[int, ...] | None = None,
        norm: str = "none",
    ):
        super().__init__()
        if norm not in ("none", "layernorm", "rms", "standardize"):
            raise ValueError(f"norm must be none, layernorm, rms or standardize, got {norm!r}")
        self.lm = lm_model.eval().requires_grad_(False)
        emb = lm_model.get_input_embeddings().weight.detach()
        self.hopfield = FrozenHopfield(emb, obs_dim, beta, similarity=similarity, seed=seed, dtype=dtype)
        self.mem_len, self.n_sink, self.dtype, self.implementation = mem_len, n_sink, dtype, implementation
        # FrozenHopfield is a fixed function of the observation, and observations repeat a lot
        # (egocentric grid views): retrievals are cached by a digest of the raw observation.
        self.cache_size = cache_size
        self._cache = ObservationCache(cache_size)
        self.memory: StreamingLMMemory | None = None
        #: n_envs -> the memory to step; None: this process's own LM (``make_lm_memory``). A seed
        #: group's members set it to their share of one LM stepped for all (``helmrl.frozen.shared_lm``).
        self.memory_factory: Callable[[int], StreamingLMMemory] | None = None
        n_layers = lm_model.config.num_hidden_layers
        self.layers = tuple(layers) if layers is not None else (n_layers,)
        if any(not 0 <= k <= n_layers for k in self.layers):
            raise ValueError(f"history layers must be in 0..{n_layers}, got {self.layers}")
        self.norm = norm
        self.width = emb.shape[1]
        self.out_dim = self.width * len(self.layers)
        self.register_buffer("norm_mean", torch.zeros(self.out_dim), persistent=False)
        self.register_buffer("norm_std", torch.ones(self.out_dim), persistent=False)
        if norm == "standardize":
            self._calibrate(seed)

    @torch.inference_mode()
    def _calibrate(self, seed: int, n_envs: int = 16, steps: int = 48) -> None:
        """Per-dimension mean and std of the history over random token sequences (the LM's own
        statistics, fixed at build: a pure function of the LM, the seed and the window).

        Why: a pretrained LM's states have a few "massive" dimensions (SmolLM2's final state:
        largest per-dimension s.d. 15x the median, 200-500x in middle layers) that dominate the
        head's first layer; the information the head needs lies in the small ones."""
        emb = self.hopfield.embeddings
        gen = torch.Generator().manual_seed(seed + 7_777)
        tokens = torch.randint(0, emb.shape[0], (steps, n_envs), generator=gen)
        memory = make_lm_memory(
            self.lm, n_envs, self.mem_len, self.n_sink, self.dtype, self.implementation, layers=self.layers
        )
        memory.reset()
        start = torch.ones(n_envs, dtype=torch.bool, device=emb.device)
        outs = []
        for t in range(steps):
            outs.append(memory(emb[tokens[t].to(emb.device)].float(), start if t == 0 else ~start))
        states = torch.cat(outs).float()
        self.norm_mean.copy_(states.mean(0))
        self.norm_std.copy_(states.std(0).clamp_min(1e-3 * states.std(0).median().item() + 1e-8))

    @property
    def device(self) -> torch.device:
        return self.hopfield.embeddings.device

    def _apply(self, fn, recurse=True):  # nn.Module hook behind .to()/.cuda()
        # The memory holds re-laid-out (and, on CPU, pre-packed) copies of the LM's weights:
        # after a move it is rebuilt by the next reset().
        self.memory = None
        self._cache.clear()
        return super()._apply(fn, recurse)

    def reset(self, n_envs: int) -> None:
        """Forget every env's history (and size the memory for ``n_envs``)."""
        if self.memory_factory is not None:
            if self.memory is None or self.memory.n_envs != n_envs:
                self.memory = self.memory_factory(n_envs)
        elif self.memory is None or self.memory.n_envs != n_envs:
            self.memory = make_lm_memory(
                self.lm,
                n_envs,
                self.mem_len,
                self.n_sink,
                self.dtype,
                self.implementation,
                layers=self.layers,
            )
        self.memory.reset()
        self._cache.clear()  # results must not depend on what ran before (resume, eval)

    def forward(self, obs: Tensor, episode_start: Tensor) -> Tensor:
        """(B, ...) raw observations (CPU) and (B,) episode starts -> (B, m) float32 histories."""
        if self.memory is None:
            raise RuntimeError("call reset(n_envs) before the first step")
        with torch.inference_mode():
            if getattr(self.memory, "retrieves", False):  # a seed group's: FrozenHopfield there too
                out = self.memory.step_observations(obs, episode_start)
            else:
                out = self.memory(self.retrieve(obs), episode_start.to(self.device))
            if self.norm == "standardize":
                out = (out - self.norm_mean) / self.norm_std
            elif self.norm != "none":  # each layer's state on its own: (B, L*m) -> (B, L, m)
                blocks = out.view(out.shape[0], len(self.layers), self.width)
                if self.norm == "layernorm":
                    blocks = torch.nn.functional.layer_norm(blocks, (self.width,))
                else:
                    blocks = blocks * torch.rsqrt(blocks.pow(2).mean(-1, keepdim=True) + 1e-6)
                out = blocks.reshape(out.shape)
        return out.clone()  # outside inference mode: a normal tensor, storable in the rollout

    @torch.inference_mode()
    def retrieve(self, obs: Tensor) -> Tensor:
        """FrozenHopfield outputs for raw observations (B, ...) -> (B, m), through the cache."""
        return self._cache(obs, lambda o: self.hopfield(observation_to_vector(o.to(self.device))))


def build_frozen_history(
    cfg: HistoryConfig,
    obs_shape: tuple[int, ...],
    device: torch.device | str = "cpu",
    lm_model: nn.Module | None = None,
) -> FrozenHistory | VisionHistory:
    """The history stage ``cfg`` describes, for observations of ``obs_shape``, on ``device``
    (the LM is loaded unless given): FrozenHopfield's (HELM), or a CLIP's (HELMv2, SHELM:
    ``helmrl.frozen.vision_history``)."""
    from .language_model import load_language_model
    from .precision import resolve_frozen_dtype

    if cfg.input_map != "hopfield":
        from .vision_history import build_vision_history

        return build_vision_history(cfg, obs_shape, device, lm_model)
    device = torch.device(device)
    if lm_model is None:
        lm_model = load_language_model(cfg.lm, seed=cfg.seed, n_layers=cfg.lm_layers).model
    n_layers = lm_model.config.num_hidden_layers
    try:
        layers = parse_history_layer(cfg.history_layer, n_layers)
    except ValueError as err:
        raise HistoryConfigError(
            f"history_layer={cfg.history_layer!r}: {err} (this LM has {n_layers} layers)"
        ) from None
    obs_dim = observation_to_vector(torch.zeros(1, *obs_shape)).shape[1]
    dtype = resolve_frozen_dtype(cfg.frozen_dtype, device)
    return FrozenHistory(
        lm_model,
        obs_dim=obs_dim,
        beta=cfg.beta,
        mem_len=cfg.mem_len,
        n_sink=cfg.n_sink,
        similarity=cfg.similarity,
        seed=cfg.seed,
        dtype=dtype,
        implementation=cfg.memory_impl,
        cache_size=cfg.hopfield_cache,
        layers=layers,
        norm=cfg.history_norm,
    ).to(device)
