"""The memory must equal one full-sequence forward with the documented streaming mask."""

import pytest
import torch

from helmrl.frozen.lm_memory import make_lm_memory, streaming_attention_mask

from .conftest import tiny_gpt2, tiny_llama


def reference(model, x: torch.Tensor, mem_len: int, n_sink: int) -> torch.Tensor:
    """Last hidden state of one forward over a whole episode x (T, m) with the streaming mask."""
    T = x.shape[0]
    allowed = streaming_attention_mask(T, mem_len, n_sink)
    mask = torch.zeros(T, T).masked_fill(~allowed, torch.finfo(torch.float32).min)[None, None]
    with torch.no_grad():
        out = model(
            inputs_embeds=x[None],
            attention_mask=mask,
            position_ids=torch.arange(T)[None],
            output_hidden_states=True,
        )
    return out.hidden_states[-1][0]


CASES = [("llama", "fast"), ("llama", "hf"), ("gpt2", "hf")]


def _model(kind):
    return tiny_llama() if kind == "llama" else tiny_gpt2()


def test_streaming_mask_semantics():
    m = streaming_attention_mask(10, mem_len=5, n_sink=2)
    assert m[4].tolist() == [True] * 5 + [False] * 5  # window not full yet: plain causal
    # step 9 keeps sinks 0,1 and the last 3 steps 7,8,9
    assert torch.nonzero(m[9]).flatten().tolist() == [0, 1, 7, 8, 9]
    assert not m.triu(1).any()


@pytest.mark.parametrize("kind,impl", CASES)
@pytest.mark.parametrize("n_sink", [0, 2])
def test_steps_equal_full_forward_past_the_window_and_across_a_reset(kind, impl, n_sink):
    model = _model(kind)
    mem_len, T, reset_at = 6, 20, 9
    mem = make_lm_memory(model, n_envs=3, mem_len=mem_len, n_sink=n_sink, implementation=impl)
    torch.manual_seed(1)
    xs = torch.randn(T, 3, 32)
    starts = torch.zeros(T, 3, dtype=torch.bool)
    starts[0] = True
    starts[reset_at, 0] = True  # env 0 starts a new episode; envs 1 and 2 go on
    outs = torch.stack([mem(xs[t], starts[t]) for t in range(T)])
    for env in (1, 2):
        torch.testing.assert_close(
            outs[:, env], reference(model, xs[:, env], mem_len, n_sink), atol=1e-4, rtol=0
        )
    ref0 = torch.cat(
        [
            reference(model, xs[:reset_at, 0], mem_len, n_sink),
            reference(model, xs[reset_at:, 0], mem_len, n_sink),
        ]
    )
    torch.testing.assert_close(outs[:, 0], ref0, atol=1e-4, rtol=0)


@pytest.mark.parametrize("kind,impl", CASES)
def test_reset_forgets_history(kind, impl):
    """After an episode start, the output does not depend on what came before."""
    model = _model(kind)
    a = make_lm_memory(model, 1, 8, 2, implementation=impl)
    b = make_lm_memory(model, 1, 8, 2, implementation=impl)
    torch.manual_seed(0)
    for _ in range(5):
        a(torch.randn(1, 32), torch.tensor([False]))
    x = torch.randn(1, 32)
    torch.testing.assert_close(a(x, torch.tensor([True])), b(x, torch.tensor([True])), atol=1e-5, rtol=0)


def test_memory_is_fixed_size_and_holds_no_lm_weights():
    model = tiny_llama()
    mem = make_lm_memory(model, 2, 4, 1)
    shapes = {k: v.shape for k, v in mem.state_dict().items()}
    for _ in range(30):
        mem(torch.randn(2, 32), torch.tensor([False, False]))
    assert {k: v.shape for k, v in mem.state_dict().items()} == shapes
    assert set(shapes) == {"keys", "values", "position", "valid"}
    assert mem.valid.sum(1).tolist() == [4, 4]


def test_memory_output_has_no_gradient_path():
    model = tiny_llama()
    mem = make_lm_memory(model, 2, 4, 1)
    x = torch.randn(2, 32, requires_grad=True)
    out = mem(x, torch.tensor([True, True]))
    assert not out.requires_grad


def test_bf16_stays_close_to_fp32():
    model = tiny_llama()
    f32 = make_lm_memory(model, 2, 8, 2, dtype=torch.float32)
    b16 = make_lm_memory(model, 2, 8, 2, dtype=torch.bfloat16)
    torch.manual_seed(0)
    for t in range(6):
        x = torch.randn(2, 32)
        st = torch.tensor([t == 0, t == 0])
        a, b = f32(x, st), b16(x, st)
    rel = (a - b).norm() / a.norm()
    assert rel < 0.05


def test_rejects_bad_window():
    with pytest.raises(ValueError, match="n_sink"):
        make_lm_memory(tiny_llama(), 1, 4, 4)
    with pytest.raises(ValueError, match="fast memory supports"):
        make_lm_memory(tiny_gpt2(), 1, 4, 1, implementation="fast")


@pytest.mark.parametrize("impl", ["fast", "hf"])
@pytest.mark.parametrize("layers", [(0,), (1,), (3,), (4,), (1, 3), (0, 2, 4)])
def test_history_layers_equal_the_matching_output_hidden_states(impl, layers):
    """--history-layer k returns transformers' output_hidden_states[k] (0 = inputs, n = the
    final state after the norm); several layers are concatenated in the order given."""
    model = tiny_llama(layers=4)
    mem_len, T = 6, 12
    mem = make_lm_memory(model, n_envs=2, mem_len=mem_len, n_sink=2, implementation=impl, layers=layers)
    assert mem.out_dim == 32 * len(layers)
    torch.manual_seed(2)
    xs = torch.randn(T, 2, 32)
    starts = torch.zeros(T, 2, dtype=torch.bool)
    starts[0] = True
    outs = torch.stack([mem(xs[t], starts[t]) for t in range(T)])
    allowed = streaming_attention_mask(T, mem_len, 2)
    mask = torch.zeros(T, T).masked_fill(~allowed, torch.finfo(torch.float32).min)[None, None]
    for env in range(2):
        with torch.no_grad():
            hs = model(
                inputs_embeds=xs[None, :, env],
                attention_mask=mask,
                position_ids=torch.arange(T)[None],
                output_hidden_states=True,
            ).hidden_states
        expected = torch.cat([hs[k][0] for k in layers], dim=-1)
        torch.testing.assert_close(outs[:, env], expected, atol=1e-4, rtol=0)


def test_fast_memory_runs_no_layer_above_the_deepest_one_used(monkeypatch):
    model = tiny_llama(layers=4)
    mem = make_lm_memory(model, n_envs=2, mem_len=4, n_sink=1, implementation="fast", layers=(2,))
    used = []
    real = mem._mm
    monkeypatch.setattr(mem, "_mm", lambda x, name: used.append(int(name.split(".")[0])) or real(x, name))
    mem(torch.randn(2, 32), torch.ones(2, dtype=torch.bool))
    assert sorted(set(used)) == [0, 1]


@pytest.mark.parametrize(
    "env,fast",
    [
        ({"ONEDNN_MAX_CPU_ISA": "AVX2"}, False),
        ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, False),
        ({"ATEN_CPU_CAPABILITY": "avx2"}, False),
        ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"}, None),  # allowed: the CPU's own flags decide
        ({}, None),
    ],
)
def test_isa_caps_reproduce_an_avx2_host(monkeypatch, env, fast):
    """With the kernels capped below native bf16 the path must fall back to fp32, never emulate bf16."""
    from helmrl.frozen.precision import cpu_has_fast_bf16, resolve_frozen_dtype

    for k in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY"):
        monkeypatch.delenv(k, raising=False)
    native = "avx512_bf16" in open("/proc/cpuinfo").read() or "amx_bf16" in open("/proc/cpuinfo").read()
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    expected = native if fast is None else fast
    assert cpu_has_fast_bf16() is expected
    assert resolve_frozen_dtype("auto", "cpu") == (torch.bfloat16 if expected else torch.float32)


def test_trimmed_attention_never_reads_unfilled_slots_and_matches_the_full_buffer():
    """trim_unused_slots attends over slots [0, most filled) only: poison the slots beyond any
    env's reach in 6 steps with NaN. The untrimmed step reads them (0 · NaN = NaN), the trimmed
    one must not, and where both are finite they agree to float reordering."""
    model = tiny_llama()
    trimmed = make_lm_memory(model, n_envs=3, mem_len=16, n_sink=2, implementation="fast")
    full = make_lm_memory(model, n_envs=3, mem_len=16, n_sink=2, implementation="fast")
    full.trim_unused_slots = False
    assert trimmed.trim_unused_slots  # the default on CPU
    for m in (trimmed, full):
        m.keys[..., 6:, :] = float("nan")
        m.values[..., 6:, :] = float("nan")
    torch.manual_seed(3)
    xs = torch.randn(6, 3, 32)
    starts = torch.zeros(6, 3, dtype=torch.bool)
    starts[0] = True
    starts[4, 1] = True  # env 1 restarts: its old slots stay filled (NaN-free) but masked
    got = torch.stack([trimmed(xs[t], starts[t]) for t in range(6)])
    assert torch.isfinite(got).all()
    assert torch.isnan(full(xs[0], starts[0])).all()  # proof that the poison is in reach
    full.keys.zero_()
    full.values.zero_()
    full.reset()
    ref = torch.stack([full(xs[t], starts[t]) for t in range(6)])
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
