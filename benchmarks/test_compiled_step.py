"""compiled_step.compile_step agrees with the eager step (``.venv/bin/python -m pytest benchmarks``;
not part of ``make test``: inductor's compiles take ~10-20 s each, and the lever is a benchmark's)."""

from __future__ import annotations

import pytest
import torch
from compiled_step import compile_step
from transformers import LlamaConfig, LlamaForCausalLM

from helmrl.frozen.lm_memory import make_lm_memory


def _tiny_llama():
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, attn_implementation="eager",
    )  # fmt: skip
    return LlamaForCausalLM(cfg).eval()


def _episode(mem, xs, starts):
    mem.reset()
    return torch.stack([mem(x, s) for x, s in zip(xs, starts, strict=True)])


@pytest.mark.parametrize("freeze_weights", [False, True])
def test_the_compiled_step_agrees_with_the_eager_step(freeze_weights):
    model = _tiny_llama()
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(2, 32, generator=g) for _ in range(8)]
    starts = [torch.tensor([i == 0, i in (0, 5)]) for i in range(8)]
    ref = _episode(make_lm_memory(model, 2, 4, 1, implementation="fast"), xs, starts)
    mem = make_lm_memory(model, 2, 4, 1, implementation="fast", prepack=not freeze_weights)
    compile_step(mem, freeze_weights=freeze_weights)
    assert not mem.trim_unused_slots
    assert sorted(mem.state_dict()) == ["keys", "position", "valid", "values"]
    torch.testing.assert_close(_episode(mem, xs, starts), ref, atol=1e-4, rtol=1e-4)
