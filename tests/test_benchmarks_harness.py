"""benchmarks/harness.py (the one timer and CSV schema of the speed benchmarks) and the public
switches of the LM memory the benchmarks time: ``linear``, ``packed`` and ``fused_attention``
(``compile_step``, a benchmark's own lever, is tested in benchmarks/test_compiled_step.py). Nothing
here times anything for a claim."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest
import torch

from helmrl.frozen.lm_memory import make_lm_memory

from .conftest import tiny_llama

_spec = importlib.util.spec_from_file_location(
    "harness", Path(__file__).resolve().parents[1] / "benchmarks" / "harness.py"
)
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)


def test_rows_are_appended_in_one_schema_and_another_schema_is_refused(tmp_path):
    out = tmp_path / "bench.csv"
    for value in (1.0, 2.0):
        harness.write_rows(out, [harness.row("b", "case", "v", "step_ms", value, "ms")])
    with open(out, newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == harness.COLUMNS and len(rows) == 3
    assert [r[4] for r in rows[1:]] == ["1.0", "2.0"] and rows[1][-1] == "cpu"
    old = tmp_path / "old.csv"
    old.write_text("metric,value,unit\nx,1,ms\n")
    with pytest.raises(SystemExit, match="other columns"):
        harness.check_out(old)
    with pytest.raises(SystemExit):
        harness.write_rows(old, [harness.row("b", "c", "v", "m", 1, "x")])
    assert old.read_text() == "metric,value,unit\nx,1,ms\n"


def test_variants_are_interleaved_after_warm_up_and_before_runs_ahead_of_every_call():
    calls: list[str] = []
    times = harness.time_interleaved(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
        reps=3,
        warmup=1,
        before=lambda name: calls.append("before-" + name),
    )
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3}
    assert calls == ["before-a", "a", "before-b", "b"] * 4  # 1 warm-up + 3 timed rounds


@pytest.mark.parametrize("prepack", [True, False])
def test_linear_is_the_steps_gemm_on_its_own_weights(prepack):
    model = tiny_llama()
    mem = make_lm_memory(model, n_envs=3, mem_len=4, n_sink=1, implementation="fast", prepack=prepack)
    assert isinstance(mem.packed, bool) and (mem.packed or not prepack)
    att = model.model.layers[1].self_attn
    x = torch.randn(3, 32)
    expected = x @ torch.cat([att.q_proj.weight, att.k_proj.weight, att.v_proj.weight]).t()
    torch.testing.assert_close(mem.linear(x, "1.qkv"), expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="no GEMM"):
        mem.linear(x, "1.ln1")


def _episode(mem, xs, starts):
    mem.reset()
    return torch.stack([mem(x, s) for x, s in zip(xs, starts, strict=True)])


def test_fused_attention_agrees_with_the_eager_step():
    model = tiny_llama()
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(2, 32, generator=g) for _ in range(8)]
    starts = [torch.tensor([i == 0, i in (0, 5)]) for i in range(8)]
    ref = _episode(make_lm_memory(model, 2, 4, 1, implementation="fast"), xs, starts)
    mem = make_lm_memory(model, 2, 4, 1, implementation="fast")
    mem.fused_attention = True
    torch.testing.assert_close(_episode(mem, xs, starts), ref, atol=1e-4, rtol=1e-4)
