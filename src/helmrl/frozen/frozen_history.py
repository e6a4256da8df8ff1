"""HELM's frozen history stage: FrozenHopfield as the input map of the frozen LM's memory.

    h_t = PLT(x_1 .. x_t),   x_i = Eᵀ softmax(β · sim(E, P o_i))

The memory, its cache and the per-step call are ``HistoryStage``'s (``history_stage``); HELMv2's
and SHELM's stages are the same with CLIP's input maps (``vision_history``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import HistoryConfigError
from .frozen_hopfield import FrozenHopfield, observation_to_vector
from .history_config import HistoryConfig, parse_history_layer
from .history_stage import HistoryStage
from .lm_memory import make_lm_memory


class FrozenHistory(HistoryStage):
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
        if norm not in ("none", "layernorm", "rms", "standardize"):
            raise ValueError(f"norm must be none, layernorm, rms or standardize, got {norm!r}")
        super().__init__(lm_model, mem_len, n_sink, dtype, implementation, cache_size, layers)
        emb = lm_model.get_input_embeddings().weight.detach()
        self.hopfield = FrozenHopfield(emb, obs_dim, beta, similarity=similarity, seed=seed, dtype=dtype)
        self.norm = norm
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

    def inputs(self, obs: Tensor) -> Tensor:
        return self.retrieve(obs)

    def step(self, obs: Tensor, episode_start: Tensor) -> Tensor:
        """The memory's step, then ``history_norm``."""
        if getattr(self.memory, "retrieves", False):  # a seed group's: FrozenHopfield there too
            out = self.memory.step_observations(obs, episode_start)  # type: ignore[union-attr]
        else:
            out = super().step(obs, episode_start)
        if self.norm == "standardize":
            return (out - self.norm_mean) / self.norm_std
        if self.norm != "none":  # each layer's state on its own: (B, L*m) -> (B, L, m)
            blocks = out.view(out.shape[0], len(self.layers), self.width)
            if self.norm == "layernorm":
                blocks = torch.nn.functional.layer_norm(blocks, (self.width,))
            else:
                blocks = blocks * torch.rsqrt(blocks.pow(2).mean(-1, keepdim=True) + 1e-6)
            return blocks.reshape(out.shape)
        return out

    @torch.inference_mode()
    def retrieve(self, obs: Tensor) -> Tensor:
        """FrozenHopfield outputs for raw observations (B, ...) -> (B, m), through the cache."""
        return self._cache(obs, lambda o: self.hopfield(observation_to_vector(o.to(self.device))))


def build_frozen_history(
    cfg: HistoryConfig,
    obs_shape: tuple[int, ...],
    device: torch.device | str = "cpu",
    lm_model: nn.Module | None = None,
) -> HistoryStage:
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
