"""Shared fixtures: tiny randomly initialised causal LMs the tests build themselves."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
torch.set_num_threads(min(2, torch.get_num_threads()))


def tiny_llama(hidden: int = 32, layers: int = 2, vocab: int = 64, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        attn_implementation="eager",
    )
    return LlamaForCausalLM(cfg).eval()


def tiny_gpt2(hidden: int = 32, layers: int = 2, vocab: int = 64, seed: int = 0):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    cfg = GPT2Config(
        vocab_size=vocab,
        n_embd=hidden,
        n_layer=layers,
        n_head=4,
        n_positions=512,
        bos_token_id=0,
        eos_token_id=1,
        attn_implementation="eager",
    )
    return GPT2LMHeadModel(cfg).eval()


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama saved with save_pretrained, usable as --lm."""
    path = tmp_path_factory.mktemp("tiny-llama")
    tiny_llama().save_pretrained(path)
    return path


# HELMv2 and SHELM's tests: a tiny random CLIP and a tiny Llama with a BPE tokenizer of its own.
# They share the words key, door, ball, red and wall and the single letters the LM holds as word
# starts (" b", " d", ...), not "box" or "green".
CLIP_WORDS = ["key", "door", "ball", "red", "box", "wall", "blue", "goal", "grey", "open"]
LM_WORDS = ["key", "door", "ball", "red", "green", "wall", "the", "grey"]


def _write_bpe(folder: Path, vocab: dict[str, int], merges: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(dict.fromkeys(merges)) + "\n")


def _bpe(
    words: list[str], first: list[str], split: Callable[[str], list[str]]
) -> tuple[dict[str, int], list[str]]:
    """A vocabulary and the merges that build each word from its pieces, left to right."""
    vocab: dict[str, int] = {}
    merges: list[str] = []
    for t in first:
        vocab.setdefault(t, len(vocab))
    for w in words:
        parts = split(w)
        for p in parts:
            vocab.setdefault(p, len(vocab))
        while len(parts) > 1:
            merges.append(f"{parts[0]} {parts[1]}")
            parts = [parts[0] + parts[1], *parts[2:]]
            vocab.setdefault(parts[0], len(vocab))
    return vocab, merges


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random CLIP saved like a hub checkpoint: 32-px images, 16-d joint space."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    src, out = tmp_path_factory.mktemp("clip-bpe"), tmp_path_factory.mktemp("tiny-clip")
    chars = sorted(set("".join(CLIP_WORDS)))
    vocab, merges = _bpe(
        CLIP_WORDS, [*chars, *(c + "</w>" for c in chars)], lambda w: [*w[:-1], w[-1] + "</w>"]
    )
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = len(vocab), len(vocab) + 1
    _write_bpe(src, vocab, merges)
    tok = CLIPTokenizer.from_pretrained(src)
    text = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    cfg = CLIPConfig(
        text_config=dict(
            vocab_size=len(tok),
            max_position_embeddings=16,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            **text,
        ),
        vision_config=dict(image_size=32, patch_size=8, **text),
        projection_dim=16,
    )
    torch.manual_seed(0)
    CLIPModel(cfg).save_pretrained(out)
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=images, tokenizer=tok).save_pretrained(out)
    for name in ("vocab.json", "merges.txt"):
        (out / name).write_text((src / name).read_text())
    return out


@pytest.fixture(scope="session")
def lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama saved with a byte-level BPE tokenizer of its own (words as ' word')."""
    from transformers import GPT2Tokenizer

    src, out = tmp_path_factory.mktemp("lm-bpe"), tmp_path_factory.mktemp("tiny-lm")
    vocab, merges = _bpe(LM_WORDS, ["<|endoftext|>"], lambda w: ["Ġ", *w])
    _write_bpe(src, vocab, merges)
    tok = GPT2Tokenizer.from_pretrained(src)
    tiny_llama(vocab=len(tok)).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` skip where torch sees no CUDA device."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """A run with --torch-threads changes a process-wide setting; give the next test the default."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def load_script(relative: str):
    """A script of the repository (``experiments/x.py``, ``benchmarks/x.py``) as a module, registered
    in sys.modules under its stem (its dataclasses look their module up there)."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / relative
    if (
        str(path.parent) not in sys.path
    ):  # its shared modules (benchmarks/harness.py, experiments/grid_report.py)
        sys.path.append(str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def hopfield_stage(model, obs_dim: int, beta: float, seed: int = 0, **kw):
    """HELM's stage on ``model``: FrozenHopfield over its embeddings as the input map."""
    from helmrl.frozen.frozen_hopfield import FrozenHopfield
    from helmrl.frozen.history_stage import HistoryStage

    emb = model.get_input_embeddings().weight.detach()
    return HistoryStage(FrozenHopfield(emb, obs_dim, beta, seed=seed), model, seed=seed, **kw)
