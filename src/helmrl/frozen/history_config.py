"""The frozen history stage's config, as a plain dataclass: no torch here, so reading or checking a
config (``helmrl.config``, ``helmrl presets``) does not load the LM.

A run holds one as ``TrainConfig.history``; a library user builds it directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


def _f(default: Any, help: str) -> Any:  # noqa: A002 - `help` reads best in the field list
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class HistoryConfig:
    """What the frozen history stage computes: the model layer's own config of it.

    A run holds one as ``TrainConfig.history``; a library user builds it directly.
    Each field's default and help text are the CLI's and ``TrainConfig``'s too (defined here only).
    """

    lm: str = _f(
        "smollm2-135m", "frozen LM: 'smollm2-135m', 'random-init', a local HF folder, or a cached hub id"
    )
    beta: float = _f(100.0, "FrozenHopfield inverse temperature β (> 0): x_t = Eᵀ softmax(β E P o_t)")
    similarity: Literal["cosine", "dot"] = _f(
        "cosine", "FrozenHopfield similarity: cosine (authors' code) | dot (paper)"
    )
    mem_len: int = _f(64, "LM memory slots per env: n_sink first steps + the most recent ones")
    n_sink: int = _f(4, "first steps of an episode the memory always keeps (attention sinks)")
    frozen_dtype: Literal["auto", "float32", "bfloat16"] = _f(
        "auto", "dtype of the frozen parts: auto (bf16 on CUDA and where the CPU has native bf16, else fp32)"
    )
    hopfield_cache: int = _f(
        32768, "FrozenHopfield retrievals (HELMv2, SHELM: CLIP outputs) cached by observation (0: off; exact)"
    )
    history_layer: str = _f(
        "last", "LM state(s) fed to the head: last (paper) | k (after k layers; 0 = inputs) | k,j,..."
    )
    history_norm: Literal["none", "layernorm", "rms", "standardize"] = _f(
        "none",
        "normalise each history state before the head: none (paper) | layernorm | rms | standardize "
        "(per dimension, the LM's statistics on random tokens)",
    )
    lm_layers: int = _f(0, "use only the LM's first K layers (0: all)")
    memory_impl: Literal["auto", "fast", "hf"] = _f(
        "auto", "LM memory: auto | fast (Llama-style models) | hf (any causal LM)"
    )
    seed: int = _f(
        0, "seed of FrozenHopfield's projection P (and of a random-init LM, and HELMv2's width map)"
    )
    input_map: Literal["hopfield", "clip-features", "clip-tokens"] = _f(
        "hopfield",
        "what the LM reads per step: hopfield (HELM: FrozenHopfield) | clip-features (HELMv2: CLIP image "
        "features rescaled to E's statistics) | clip-tokens (SHELM: CLIP's top-k tokens)",
    )
    vision_encoder: str = _f(
        "openai/clip-vit-base-patch16",
        "HELMv2 and SHELM: the frozen CLIP, a folder saved with save_pretrained or a cached hub id",
    )
    top_k: int = _f(4, "SHELM: CLIP tokens fed to the LM per step (the memory holds mem_len tokens)")

    @property
    def couples_envs(self) -> bool:
        """HELMv2 standardises CLIP's features over the envs of a step, so each env's LM input
        depends on the others: a run must be played with as many envs as it trained with."""
        return self.input_map == "clip-features"


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
