"""HELMv2's and SHELM's input maps: a frozen CLIP in front of the frozen LM.

    HELMv2:  x_t = μ_E + σ_E ⊙ standardise_B(W f(o_t))              one LM input per step
    SHELM:   x_t = E[tokens(o_t)]  (the top-k shared tokens by cosine)  k LM inputs per step

with f the CLIP image features (``vision_encoder``), the HELMv2 map in ``embedding_rescale``,
SHELM's retrieval in ``token_retrieval`` and the k-inputs memory in ``multi_token_memory``. The
rest of the stage (the memory, the cache, the per-step call) is ``HistoryStage``'s, as HELM's is,
so the trainer, the wrappers and the SB3 adapter use it unchanged. ``encode`` is CLIP's
per-observation part, which the stage caches; HELMv2's batch standardisation runs after the cache.
PPO never runs CLIP or the LM, and neither is a parameter of the agent (so none is in the optimizer).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor, nn

from ..errors import HistoryConfigError, VisionEncoderError
from .embedding_rescale import EmbeddingRescale
from .token_retrieval import CLIPTokenRetrieval
from .vision_encoder import FrozenCLIP, load_vision_encoder

if TYPE_CHECKING:
    from .history_config import HistoryConfig


class CLIPFeatureInputs(nn.Module):
    """HELMv2: CLIP's image features, rescaled to the token embeddings' statistics."""

    tokens_per_step = 1

    def __init__(self, clip: FrozenCLIP, embeddings: Tensor, seed: int = 0):
        super().__init__()
        self.encoder = clip.requires_grad_(False)
        self.rescale = EmbeddingRescale(embeddings, clip.width, seed=seed)

    def encode(self, obs: Tensor) -> Tensor:
        """(B, H, W, 3) raw images -> (B, d) CLIP image features."""
        return self.encoder.image_features(obs)

    def lm_inputs(self, features: Tensor) -> Tensor:
        """(B, d) features -> (B, m): standardised over this step's envs, then rescaled."""
        return self.rescale(features.to(self.rescale.emb_mean.device))


class CLIPTokenInputs(nn.Module):
    """SHELM: the k LM tokens whose CLIP text features are nearest the image's, embedded by the
    LM's own embedding layer (``lm_embeddings``)."""

    def __init__(self, clip: FrozenCLIP, lm_embeddings: nn.Module, lm_tokenizer: object, top_k: int):
        super().__init__()
        self.encoder = clip.requires_grad_(False)
        self.retrieval = CLIPTokenRetrieval(clip, lm_tokenizer, top_k).to(lm_embeddings.weight.device)
        self.embed = lm_embeddings
        self.tokens_per_step = top_k

    def encode(self, obs: Tensor) -> Tensor:
        """(B, H, W, 3) raw images -> (B, k) LM token ids, most similar first."""
        return self.retrieval(self.encoder.image_features(obs))

    def lm_inputs(self, ids: Tensor) -> Tensor:
        """(B, k) token ids -> (B, k, m) fp32 embeddings ((B, m) when k = 1)."""
        x = self.embed(ids.to(self.embed.weight.device)).float()
        return x if self.tokens_per_step > 1 else x[:, 0]


def check_vision_config(
    cfg: HistoryConfig, obs_shape: tuple[int, ...], clip: FrozenCLIP | None
) -> FrozenCLIP:
    """Refuse what HELMv2 and SHELM cannot read, then the CLIP ``cfg`` names (loaded unless given)."""
    if len(obs_shape) != 3 or obs_shape[-1] != 3:
        raise HistoryConfigError(
            f"HELMv2 and SHELM read RGB images (H, W, 3) with CLIP; this env's observations are {obs_shape}"
        )
    if cfg.history_norm != "none":
        raise HistoryConfigError(
            f"history_norm={cfg.history_norm!r}: HELMv2 and SHELM feed the head the LM's state as is (none)"
        )
    if clip is None:
        clip = load_vision_encoder(cfg.vision_encoder, need_tokenizer=cfg.input_map == "clip-tokens")
    return clip


def vision_input_map(
    cfg: HistoryConfig, clip: FrozenCLIP, lm_model: nn.Module, lm_tokenizer: object | None
) -> CLIPFeatureInputs | CLIPTokenInputs:
    """The input map ``cfg.input_map`` names, on ``lm_model``'s embeddings."""
    embed = lm_model.get_input_embeddings()
    if cfg.input_map == "clip-features":
        return CLIPFeatureInputs(clip, embed.weight.detach(), seed=cfg.seed)
    if lm_tokenizer is None:
        raise HistoryConfigError(
            f"--lm {cfg.lm}: SHELM needs the LM's tokenizer (its inputs are tokens both vocabularies "
            "hold); give an LM folder saved with its tokenizer"
        )
    if clip.tokenizer is None:
        raise VisionEncoderError(f"--vision-encoder {cfg.vision_encoder}: SHELM needs the CLIP tokenizer")
    try:
        return CLIPTokenInputs(clip, embed, lm_tokenizer, cfg.top_k)
    except ValueError as err:  # e.g. too few shared tokens for top_k
        raise HistoryConfigError(str(err)) from None
