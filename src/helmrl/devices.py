"""Where the trainable parts and the frozen LM run: ``--device auto|cpu|cuda|cuda:N``.

Envs always step on the CPU; observations move to the device once per step.
"""

from __future__ import annotations

import platform

import torch


class DeviceError(ValueError):
    """A device this machine does not have (message names the alternative)."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {name}: torch sees no CUDA GPU here; use --device cpu (or auto)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"--device {name}: only {torch.cuda.device_count()} GPU(s) visible (cuda:0..)")
    return device


def describe_device(device: torch.device) -> str:
    """What ran a job, for the record beside its numbers: the GPU's name, or the CPU's model
    and the flags that pick its LM path (AVX2 / AVX512-BF16 / AMX)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model, flags = "", set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    model = model or platform.processor() or "CPU"
    isa = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{model} ({', '.join(isa) or 'no AVX2'}), {torch.get_num_threads()} torch threads"
