"""``torch.compile`` on the LM memory's step: a benchmark lever, kept out of the library.

It agrees with the eager step to float rounding only, was slower than eager on every CPU
measured (``benchmarks/results/lm_step_levers*.csv``: 0.88× on an AMX Xeon), and training never
uses it; so it lives beside the benchmark that times it (``lm_step_levers.py``), with its test
(``benchmarks/test_compiled_step.py``, run with ``.venv/bin/python -m pytest benchmarks``).
"""

from __future__ import annotations

from helmrl.frozen.lm_memory import FastDecoderMemory


def compile_step(memory: FastDecoderMemory, freeze_weights: bool = False) -> None:
    """Run ``memory``'s step through ``torch.compile`` (inductor) from its next call on.

    Inductor cannot lower oneDNN's pre-packed weights, so by default the GEMMs stay eager and
    everything between them (norms, rotary, attention, SiLU, residuals) is compiled. With
    ``freeze_weights`` (needs ``prepack=False``) the weights become buffers that inductor's
    ``freezing`` treats as constants, so inductor owns the whole step, GEMMs included. Turns
    ``trim_unused_slots`` off (it is exact either way): static shapes, so one graph rather than
    one per filled length. Raises dynamo's recompile limit to 256 (the graph breaks around each
    eager GEMM)."""
    import torch._dynamo

    if freeze_weights and memory.packed:
        raise ValueError("compile_step(freeze_weights=True) needs prepack=False")
    memory.trim_unused_slots = False
    if torch._dynamo.config.recompile_limit < 256:
        torch._dynamo.config.recompile_limit = 256
    if freeze_weights:
        weights = memory._w
        for k, v in weights.items():  # buffers, so that freezing may treat them as constants
            memory.register_buffer("w_" + k.replace(".", "_"), v, persistent=False)
        memory._w = {k: getattr(memory, "w_" + k.replace(".", "_")) for k in weights}
        memory._step = torch.compile(memory._step, dynamic=False, options={"freezing": True})
    else:
        memory._mm = torch._dynamo.disable(memory._mm)  # the packed GEMMs stay eager
        memory._step = torch.compile(memory._step, dynamic=False)
