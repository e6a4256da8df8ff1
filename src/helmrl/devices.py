"""Where the trainable parts and the frozen LM run: ``--device auto|cpu|cuda|cuda:N``.

Envs always step on the CPU; observations move to the device once per step.
"""

from __future__ import annotations

import functools
import os
import platform
import time

import torch

from .errors import DeviceError
from .frozen.precision import ISA_FLAGS, cpu_info


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies over all CPUs since boot, from /proc/stat (None elsewhere)."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


@functools.cache
def idle_cores(sample_s: float = 0.2) -> int:
    """Cores no other process is using now (>= 1), sampled once per process over ``sample_s``.

    Why: torch's threads spin-wait on each other. Beside one busy single-thread process on a
    2-core machine, HELM's demo step at 2 threads ran at 28 env-steps/s against 81 at 1 thread
    (2.9x slower; quiet, 2 threads gave 97: benchmarks/oversubscription.py).
    """
    cores = os.cpu_count() or 1
    before = _cpu_times()
    if before is None:
        return cores
    time.sleep(sample_s)
    after = _cpu_times()
    if after is None or after[1] <= before[1]:
        return cores
    busy = cores * (after[0] - before[0]) / (after[1] - before[1])
    return max(1, min(cores, round(cores - busy)))


def warn_if_oversubscribed() -> None:
    """Warn (once per process) when torch has more threads than there are idle cores.

    The thread count is not changed behind the user's back: results can depend on it, and the
    same command should give the same run on a busy machine as on a quiet one."""
    threads, free, cores = torch.get_num_threads(), idle_cores(), os.cpu_count() or 1
    if free < threads:
        import warnings

        warnings.warn(
            f"{cores - free} of {cores} cores are busy and torch uses {threads} threads: each step can "
            f"run several times slower; --torch-threads {free} avoids that",
            stacklevel=3,
        )


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
    model, flags = cpu_info()
    model = model or platform.processor() or "CPU"
    isa = [f for f in ISA_FLAGS if f in flags]
    return f"{model} ({', '.join(isa) or 'no AVX2'}), {torch.get_num_threads()} torch threads"
