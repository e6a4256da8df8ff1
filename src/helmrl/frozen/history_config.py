"""The frozen history stage's config, as a plain dataclass: no torch here, so reading or checking a
config (``helmrl.config``, ``helmrl presets``) does not load the LM.

``TrainConfig.history()`` builds one from a run's config; a library user builds it directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class HistoryConfig:
    """What the frozen history stage computes: the model layer's own config of it.

    ``TrainConfig.history()`` builds one from a run's config; a library user builds it directly.
    """

    #: frozen LM: "smollm2-135m", "random-init", a local Hugging Face folder, or a cached hub id
    lm: str = "smollm2-135m"
    #: FrozenHopfield inverse temperature β; the paper's x_t = Eᵀ softmax(β E P o_t)
    beta: float = 100.0
    #: cosine (the authors' code) or dot (the paper's equation)
    similarity: Literal["cosine", "dot"] = "cosine"
    #: memory slots per env: ``n_sink`` first steps of the episode + the most recent ones
    mem_len: int = 64
    n_sink: int = 4
    #: dtype of the frozen parts: auto (bf16 on CUDA and CPUs with native bf16, else fp32)
    frozen_dtype: Literal["auto", "float32", "bfloat16"] = "auto"
    #: FrozenHopfield retrievals cached by observation (0: off); exact
    hopfield_cache: int = 32768
    #: LM state(s) fed to the head: "last" (paper), "k" (after k layers; 0 = inputs), or "k,j,..."
    history_layer: str = "last"
    #: normalise each history state: none (paper) | layernorm | rms | standardize (per dimension,
    #: with the LM's own statistics on random token sequences; see FrozenHistory)
    history_norm: Literal["none", "layernorm", "rms", "standardize"] = "none"
    #: use only the LM's first K layers (0: all)
    lm_layers: int = 0
    #: auto | fast (Llama-style models) | hf (any causal LM)
    memory_impl: Literal["auto", "fast", "hf"] = "auto"
    #: seed of FrozenHopfield's projection P (and of a random-init LM, and HELMv2's width map)
    seed: int = 0
    #: what the LM reads per step: hopfield (HELM: FrozenHopfield) | clip-features (HELMv2: CLIP
    #: image features rescaled to E's statistics) | clip-tokens (SHELM: CLIP's top-k tokens)
    input_map: Literal["hopfield", "clip-features", "clip-tokens"] = "hopfield"
    #: HELMv2 and SHELM: the frozen CLIP, a folder saved with save_pretrained or a hub id
    vision_encoder: str = "openai/clip-vit-base-patch16"
    #: SHELM: tokens fed to the LM per step (its memory holds mem_len tokens: mem_len / top_k steps)
    top_k: int = 4


def parse_history_layer(text: str, n_layers: int) -> tuple[int, ...]:
    """'last' -> (n_layers,); '6' -> (6,); '3,6,last' -> (3, 6, n_layers). Raises ValueError."""
    out = []
    for part in text.split(","):
        part = part.strip()
        k = n_layers if part == "last" else int(part)
        if not 0 <= k <= n_layers:
            raise ValueError(f"history layer {k} is outside 0..{n_layers}")
        out.append(k)
    if not out:
        raise ValueError("no history layer given")
    return tuple(out)
