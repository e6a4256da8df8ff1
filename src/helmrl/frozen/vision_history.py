"""The frozen history stage of HELMv2 and SHELM: a frozen CLIP in front of the frozen LM.

    HELMv2:  x_t = μ_E + σ_E ⊙ standardise_B(W f(o_t))              one LM input per step
    SHELM:   x_t = E[tokens(o_t)]  (the top-k shared tokens by cosine)  k LM inputs per step
    h_t = PLT(x_1 .. x_t)         (the last layer's state at the step's last input)

with f the CLIP image features (``vision_encoder``), the HELMv2 map in ``embedding_rescale``,
SHELM's retrieval in ``token_retrieval`` and the k-inputs memory in ``multi_token_memory``.
The memory, its cache and the per-step call are ``HistoryStage``'s, as HELM's are: only the
input map differs, so the trainer, the wrappers and the SB3 adapter use it unchanged. PPO never
runs CLIP or the LM, and neither is a parameter of the agent (so none is in the optimizer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import torch
from torch import Tensor, nn

from ..errors import VisionEncoderError
from .embedding_rescale import EmbeddingRescale
from .history_stage import HistoryStage
from .token_retrieval import CLIPTokenRetrieval
from .vision_encoder import FrozenCLIP, check_vision_encoder, load_vision_encoder

if TYPE_CHECKING:
    from .history_config import HistoryConfig

VisionInputs = Literal["clip-features", "clip-tokens"]


class VisionHistory(HistoryStage):
    """h_t for every env from its raw RGB observations; see the module docstring."""

    def __init__(
        self,
        lm_model: nn.Module,
        clip: FrozenCLIP,
        input_map: VisionInputs,
        mem_len: int,
        n_sink: int,
        top_k: int = 4,
        lm_tokenizer: object | None = None,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
        implementation: str = "auto",
        cache_size: int = 32768,
        layers: tuple[int, ...] | None = None,
    ):
        if input_map not in ("clip-features", "clip-tokens"):
            raise ValueError(f"input_map must be clip-features or clip-tokens, got {input_map!r}")
        # CLIP's per-observation output (features, or SHELM's token ids) is cached: it is a fixed
        # function of the observation; HELMv2's batch standardisation runs after the cache.
        super().__init__(lm_model, mem_len, n_sink, dtype, implementation, cache_size, layers)
        self.input_map = input_map
        self.encoder = clip.requires_grad_(False)
        emb = lm_model.get_input_embeddings().weight.detach()
        if input_map == "clip-features":
            self.rescale = EmbeddingRescale(emb, clip.width, seed=seed)
        else:
            if lm_tokenizer is None:
                raise ValueError("SHELM needs the LM's tokenizer: it feeds tokens both vocabularies hold")
            self.retrieval = CLIPTokenRetrieval(clip, lm_tokenizer, top_k).to(emb.device)
            self.tokens_per_step = top_k
        #: HELMv2's inputs depend on every env of the batch (HistoryConfig.couples_envs)
        self.couples_envs = input_map == "clip-features"

    @torch.inference_mode()
    def encode(self, obs: Tensor) -> Tensor:
        """The per-observation part, through the cache: HELMv2's CLIP features (B, d), or SHELM's
        retrieved LM token ids (B, k)."""
        if self.input_map == "clip-features":
            return self._cache(obs, self.encoder.image_features)
        return self._cache(obs, lambda o: self.retrieval(self.encoder.image_features(o)))

    @torch.inference_mode()
    def tokens(self, obs: Tensor) -> Tensor:
        """SHELM: the LM token ids each observation is fed as, (B, k), most similar first."""
        if self.input_map != "clip-tokens":
            raise ValueError("only SHELM (clip-tokens) feeds its LM tokens; HELMv2 feeds it CLIP features")
        return self.encode(obs)

    @torch.inference_mode()
    def inputs(self, obs: Tensor) -> Tensor:
        """This step's LM inputs: HELMv2's (B, m), SHELM's (B, k, m) (k > 1; else (B, m)), fp32."""
        if self.input_map == "clip-features":
            return self.rescale(self.encode(obs).to(self.device))
        x = self.lm.get_input_embeddings()(self.encode(obs).to(self.device)).float()
        return x if self.tokens_per_step > 1 else x[:, 0]


def build_vision_history(
    cfg: HistoryConfig,
    obs_shape: tuple[int, ...],
    device: torch.device | str = "cpu",
    lm_model: nn.Module | None = None,
    clip: FrozenCLIP | None = None,
    lm_tokenizer: object | None = None,
) -> VisionHistory:
    """The HELMv2 (``input_map="clip-features"``) or SHELM (``"clip-tokens"``) stage ``cfg``
    describes, for RGB observations of ``obs_shape``; the LM and CLIP are loaded unless given."""
    from ..errors import HistoryConfigError
    from .history_config import parse_history_layer
    from .language_model import load_language_model
    from .precision import resolve_frozen_dtype

    if len(obs_shape) != 3 or obs_shape[-1] != 3:
        raise HistoryConfigError(
            f"HELMv2 and SHELM read RGB images (H, W, 3) with CLIP; this env's observations are {obs_shape}"
        )
    if cfg.history_norm != "none":
        raise HistoryConfigError(
            f"history_norm={cfg.history_norm!r}: HELMv2 and SHELM feed the head the LM's state as is (none)"
        )
    shelm = cfg.input_map == "clip-tokens"
    if shelm and cfg.mem_len - cfg.n_sink < cfg.top_k:
        raise HistoryConfigError(
            f"mem_len={cfg.mem_len}: SHELM's memory holds tokens, top_k={cfg.top_k} per step; "
            f"give at least n_sink + top_k = {cfg.n_sink + cfg.top_k} slots"
        )
    if clip is None:
        check_vision_encoder(cfg.vision_encoder)
        clip = load_vision_encoder(cfg.vision_encoder, need_tokenizer=shelm)
    if lm_model is None:
        lm = load_language_model(cfg.lm, seed=cfg.seed, n_layers=cfg.lm_layers)
        lm_model, lm_tokenizer = lm.model, lm_tokenizer or lm.tokenizer
    if shelm and lm_tokenizer is None:
        raise HistoryConfigError(
            f"--lm {cfg.lm}: SHELM needs the LM's tokenizer (its inputs are tokens both vocabularies "
            "hold); give an LM folder saved with its tokenizer"
        )
    if shelm and clip.tokenizer is None:
        raise VisionEncoderError(f"--vision-encoder {cfg.vision_encoder}: SHELM needs the CLIP tokenizer")
    n_layers = lm_model.config.num_hidden_layers
    try:
        layers = parse_history_layer(cfg.history_layer, n_layers)
    except ValueError as err:
        raise HistoryConfigError(
            f"history_layer={cfg.history_layer!r}: {err} (this LM has {n_layers} layers)"
        ) from None
    device = torch.device(device)
    try:
        stage = VisionHistory(
            lm_model,
            clip,
            cfg.input_map,  # type: ignore[arg-type]
            mem_len=cfg.mem_len,
            n_sink=cfg.n_sink,
            top_k=cfg.top_k,
            lm_tokenizer=lm_tokenizer,
            seed=cfg.seed,
            dtype=resolve_frozen_dtype(cfg.frozen_dtype, device),
            implementation=cfg.memory_impl,
            cache_size=cfg.hopfield_cache,
            layers=layers,
        )
    except ValueError as err:  # e.g. too few shared tokens for top_k
        raise HistoryConfigError(str(err)) from None
    return stage.to(device)
