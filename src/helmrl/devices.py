"""Where the trainable parts and the frozen LM run: ``--device auto|cpu|cuda|cuda:N``.

Envs always step on the CPU; observations move to the device once per step.
"""

from __future__ import annotations

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
