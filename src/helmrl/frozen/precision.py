"""The dtype of the frozen parts, and the CPU facts it rests on.

One reader of /proc/cpuinfo (``cpu_info``, cached) serves the dtype policy here and the host
record (``helmrl.devices.describe_device``). bf16 runs only where the hardware computes it: on
CUDA, and on CPUs with AMX or AVX512-BF16; elsewhere it is emulated (~100x slower than fp32 on
AVX2-only CPUs), so 'auto' picks fp32 there.
"""

from __future__ import annotations

import functools
import os
from typing import NamedTuple

import torch

#: the flags that pick the LM's CPU path, in the order host records list them
ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


class CPUInfo(NamedTuple):
    model: str  # the first "model name" ("" where the file has none)
    flags: frozenset[str]  # every "flags" line's flags (empty where there is no /proc/cpuinfo)


@functools.cache
def cpu_info() -> CPUInfo:
    """The CPU's model name and ISA flags from /proc/cpuinfo, read once per process."""
    model, flags = "", set()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = value.strip()
                elif key == "flags":
                    flags.update(value.split())
    except OSError:
        pass
    return CPUInfo(model, frozenset(flags))


def cpu_has_fast_bf16() -> bool:
    """True where bf16 GEMMs beat fp32 (AMX or AVX512-BF16); elsewhere bf16 is emulated and slow.

    Honours the ISA caps the kernels themselves honour, so an AVX2-only host can be reproduced
    on a newer CPU: ``ONEDNN_MAX_CPU_ISA`` (oneDNN's GEMMs) below AVX512_CORE_BF16, or
    ``ATEN_CPU_CAPABILITY`` (torch's own kernels) below avx512, means no fast bf16.
    """
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper()
    if cap and cap not in ("ALL", "DEFAULT") and not any(t in cap for t in ("BF16", "AMX", "AVX10", "FP16")):
        return False
    if os.environ.get("ATEN_CPU_CAPABILITY", "").lower() in ("default", "avx2", "zvector", "vsx"):
        return False
    flags = cpu_info().flags
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_frozen_dtype(name: str, device: torch.device | str = "cpu") -> torch.dtype:
    """'auto' -> bf16 on CUDA and on CPUs with native bf16 matrix units, else fp32 (never
    emulated bf16, which is ~100x slower than fp32 on AVX2-only CPUs)."""
    if name == "auto":
        if torch.device(device).type == "cuda":
            return torch.bfloat16
        return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32
    table = {"float32": torch.float32, "bfloat16": torch.bfloat16}
    if name not in table:
        raise ValueError(f"frozen dtype must be one of auto, float32, bfloat16; got {name!r}")
    return table[name]
