"""The frozen history stage, one for HELM, HELMv2 and SHELM: an input map, then the frozen LM's
streaming memory.

    x_t = input_map(o_t)     (B, m) or, k inputs per step, (B, k, m)
    h_t = PLT(x_1 .. x_t)    the chosen layers' states at the step's last input

The agents differ only in the input map: HELM's is FrozenHopfield (``frozen_hopfield``), HELMv2's
CLIP's features rescaled into the embedding space and SHELM's CLIP's top-k tokens
(``vision_inputs``). An input map has two parts: ``encode(obs)``, a fixed function of one raw
observation (cached here by the observation's digest: egocentric views repeat a lot), and
``lm_inputs(encoded)``, the rest (HELMv2's standardisation over the batch must run after the
cache). Everything else is this class: the memory, sized per ``reset``, the move to a device and
one ``forward`` per env step. Nothing here trains, so the trainer runs it once per observation and
stores the result; PPO never runs the LM. It is a module of its own (not part of an agent):
``.to(device)`` and ``.eval()`` reach the LM, while the agent's ``state_dict()`` and the optimizer
never see it. ``build_history_stage`` builds it from a ``HistoryConfig``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..errors import HistoryConfigError
from .history_config import HistoryConfig, parse_history_layer
from .lm_memory import StreamingLMMemory, make_lm_memory
from .multi_token_memory import MultiTokenMemory
from .observation_cache import ObservationCache

NORMS = ("none", "layernorm", "rms", "standardize")


class HistoryStage(nn.Module):
    """h_t for every env from its raw observations; see the module docstring.

    ``norm`` post-processes the LM's states (``history_norm``): "layernorm" or "rms" per layer,
    or "standardize" by the LM's own per-dimension statistics (``_calibrate``)."""

    def __init__(
        self,
        input_map: nn.Module,
        lm_model: nn.Module,
        mem_len: int,
        n_sink: int,
        dtype: torch.dtype = torch.float32,
        implementation: str = "auto",
        cache_size: int = 32768,
        layers: tuple[int, ...] | None = None,
        norm: str = "none",
        seed: int = 0,
    ):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be none, layernorm, rms or standardize, got {norm!r}")
        self.input_map = input_map
        self.lm = lm_model.eval().requires_grad_(False)
        self.mem_len, self.n_sink, self.dtype, self.implementation = mem_len, n_sink, dtype, implementation
        n_layers = lm_model.config.num_hidden_layers
        self.layers = tuple(layers) if layers is not None else (n_layers,)
        if any(not 0 <= k <= n_layers for k in self.layers):
            raise ValueError(f"history layers must be in 0..{n_layers}, got {self.layers}")
        self.width = lm_model.get_input_embeddings().weight.shape[1]
        self.out_dim = self.width * len(self.layers)
        self._cache = ObservationCache(cache_size)
        self.memory: StreamingLMMemory | MultiTokenMemory | None = None
        #: n_envs -> the memory to step; None: this process's own LM (``make_lm_memory``). A seed
        #: group's members set it to their share of one LM stepped for all (``helmrl.frozen.shared_lm``).
        self.memory_factory: Callable[[int], StreamingLMMemory] | None = None
        self.norm = norm
        self.register_buffer("norm_mean", torch.zeros(self.out_dim), persistent=False)
        self.register_buffer("norm_std", torch.ones(self.out_dim), persistent=False)
        if norm == "standardize":
            self._calibrate(seed)

    @property
    def tokens_per_step(self) -> int:
        """LM inputs per env step (SHELM: its top-k tokens); the memory holds mem_len inputs."""
        return getattr(self.input_map, "tokens_per_step", 1)

    @property
    def device(self) -> torch.device:
        return self.lm.get_input_embeddings().weight.device

    def _apply(self, fn, recurse=True):  # nn.Module's hook behind .to() and .cuda()
        # The memory holds re-laid-out (and, on CPU, pre-packed) copies of the LM's weights:
        # after a move it is rebuilt by the next reset().
        self.memory = None
        self._cache.clear()
        return super()._apply(fn, recurse)

    def _new_memory(self, n_envs: int) -> StreamingLMMemory:
        return make_lm_memory(
            self.lm, n_envs, self.mem_len, self.n_sink, self.dtype, self.implementation, layers=self.layers
        )

    @torch.inference_mode()
    def _calibrate(self, seed: int, n_envs: int = 16, steps: int = 48) -> None:
        """Per-dimension mean and std of the history over random token sequences (the LM's own
        statistics, fixed at build: a pure function of the LM, the seed and the window).

        Why: a pretrained LM's states have a few "massive" dimensions (SmolLM2's final state:
        largest per-dimension s.d. 15x the median, 200-500x in middle layers) that dominate the
        head's first layer; the information the head needs lies in the small ones."""
        emb = self.lm.get_input_embeddings().weight.detach().to(self.dtype)
        gen = torch.Generator().manual_seed(seed + 7_777)
        tokens = torch.randint(0, emb.shape[0], (steps, n_envs), generator=gen)
        memory = self._new_memory(n_envs)
        memory.reset()
        start = torch.ones(n_envs, dtype=torch.bool, device=emb.device)
        outs = []
        for t in range(steps):
            outs.append(memory(emb[tokens[t].to(emb.device)].float(), start if t == 0 else ~start))
        states = torch.cat(outs).float()
        self.norm_mean.copy_(states.mean(0))
        self.norm_std.copy_(states.std(0).clamp_min(1e-3 * states.std(0).median().item() + 1e-8))

    def reset(self, n_envs: int) -> None:
        """Forget every env's history (and size the memory for ``n_envs``)."""
        if self.memory is None or self.memory.n_envs != n_envs:
            inner = self._new_memory(n_envs) if self.memory_factory is None else self.memory_factory(n_envs)
            k = self.tokens_per_step
            self.memory = inner if k == 1 else MultiTokenMemory(inner, k)
        self.memory.reset()
        self._cache.clear()  # results must not depend on what ran before (resume, eval)

    @torch.inference_mode()
    def encode(self, obs: Tensor) -> Tensor:
        """The input map's per-observation part for raw observations (B, ...), through the cache:
        HELM's FrozenHopfield retrievals (B, m), HELMv2's CLIP features, SHELM's token ids (B, k)."""
        return self._cache(obs, self.input_map.encode)

    @torch.inference_mode()
    def inputs(self, obs: Tensor) -> Tensor:
        """This step's LM inputs for raw observations (B, ...): (B, m), or (B, k, m) for k > 1."""
        return self.input_map.lm_inputs(self.encode(obs))

    def step(self, obs: Tensor, episode_start: Tensor) -> Tensor:
        """One memory step (inside inference mode), then ``norm``."""
        assert self.memory is not None
        if getattr(self.memory, "retrieves", False):  # a seed group's: its input map runs there
            out = self.memory.step_observations(obs, episode_start)  # type: ignore[union-attr]
        else:
            out = self.memory(self.inputs(obs), episode_start.to(self.device))
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

    def forward(self, obs: Tensor, episode_start: Tensor) -> Tensor:
        """(B, ...) raw observations and (B,) episode starts -> (B, out_dim) float32 histories."""
        if self.memory is None:
            raise RuntimeError("call reset(n_envs) before the first step")
        with torch.inference_mode():
            out = self.step(obs, episode_start)
        return out.clone()  # outside inference mode: a normal tensor, storable in the rollout


def build_history_stage(
    cfg: HistoryConfig,
    obs_shape: tuple[int, ...],
    device: torch.device | str = "cpu",
    lm_model: nn.Module | None = None,
    clip: nn.Module | None = None,
    lm_tokenizer: object | None = None,
) -> HistoryStage:
    """The stage ``cfg`` describes, for observations of ``obs_shape``, on ``device``: its input map
    (``cfg.input_map``: FrozenHopfield, CLIP features or CLIP tokens) and its LM, loaded unless
    given (CLIP too). CLIP loads before the LM, so the global RNG's draws stay those of a run."""
    from .frozen_hopfield import FrozenHopfield, observation_to_vector
    from .language_model import load_language_model
    from .precision import resolve_frozen_dtype

    device = torch.device(device)
    vision = cfg.input_map != "hopfield"
    if vision:
        from .vision_inputs import check_vision_config, vision_input_map

        if cfg.input_map == "clip-tokens" and cfg.mem_len - cfg.n_sink < cfg.top_k:
            raise HistoryConfigError(
                f"mem_len={cfg.mem_len}: SHELM's memory holds tokens, top_k={cfg.top_k} per step; "
                f"give at least n_sink + top_k = {cfg.n_sink + cfg.top_k} slots"
            )
        clip = check_vision_config(cfg, obs_shape, clip)
    if lm_model is None:
        lm = load_language_model(cfg.lm, seed=cfg.seed, n_layers=cfg.lm_layers)
        lm_model, lm_tokenizer = lm.model, lm_tokenizer or lm.tokenizer
    n_layers = lm_model.config.num_hidden_layers
    try:
        layers = parse_history_layer(cfg.history_layer, n_layers)
    except ValueError as err:
        raise HistoryConfigError(
            f"history_layer={cfg.history_layer!r}: {err} (this LM has {n_layers} layers)"
        ) from None
    dtype = resolve_frozen_dtype(cfg.frozen_dtype, device)
    emb = lm_model.get_input_embeddings().weight.detach()
    if vision:
        input_map = vision_input_map(cfg, clip, lm_model, lm_tokenizer)
    else:
        obs_dim = observation_to_vector(torch.zeros(1, *obs_shape)).shape[1]
        input_map = FrozenHopfield(
            emb, obs_dim, cfg.beta, similarity=cfg.similarity, seed=cfg.seed, dtype=dtype
        )
    stage = HistoryStage(
        input_map,
        lm_model,
        mem_len=cfg.mem_len,
        n_sink=cfg.n_sink,
        dtype=dtype,
        implementation=cfg.memory_impl,
        cache_size=cfg.hopfield_cache,
        layers=layers,
        norm=cfg.history_norm,
        seed=cfg.seed,
    )
    return stage.to(device)
