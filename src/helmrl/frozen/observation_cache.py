"""A bounded cache of a frozen per-observation function, keyed by the raw observation's bytes.

Frozen encoders are fixed functions of the observation, and observations repeat a lot
(egocentric grid views), so each distinct observation is encoded once: the cache stores
f(o) by a 16-byte digest of o and computes only the rows it has not seen. Exact: a cached
row is the value f gave that observation before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import torch
from torch import Tensor


class ObservationCache:
    """``cache(obs, f)``: f applied to every row of ``obs`` (B, ...), through the cache.

    ``f`` maps a (b, ...) batch of observations to (b, ...) rows. ``size`` 0 turns the cache off;
    when a batch would overflow it, the cache is cleared (bounded memory; it refills from the
    next steps)."""

    def __init__(self, size: int):
        if size < 0:
            raise ValueError(f"cache size must be >= 0, got {size}")
        self.size = size
        self._rows: dict[bytes, Tensor] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def clear(self) -> None:
        self._rows.clear()

    def __call__(self, obs: Tensor, f: Callable[[Tensor], Tensor]) -> Tensor:
        if self.size == 0:
            return f(obs)
        keys, missing = self.lookup(obs)
        return self.fill(keys, missing, f(obs[missing]) if missing else None)

    def lookup(self, obs: Tensor) -> tuple[list[bytes], list[int]]:
        """The rows' keys and the indices of the distinct rows to compute (the cache is cleared
        first where they would overflow it). Then ``fill`` with f of those rows."""
        flat = obs.reshape(obs.shape[0], -1).cpu().numpy()
        keys = [hashlib.blake2b(r.tobytes(), digest_size=16).digest() for r in flat]
        missing = list({k: i for i, k in enumerate(keys) if k not in self._rows}.values())
        if missing and len(self._rows) + len(missing) > self.size:
            self._rows.clear()
            missing = list({k: i for i, k in enumerate(keys)}.values())
        return keys, missing

    def fill(self, keys: list[bytes], missing: list[int], rows: Tensor | None) -> Tensor:
        """Store the computed ``rows`` (f of ``missing``) and return every row, in order."""
        if missing:
            for i, row in zip(missing, rows, strict=True):
                self._rows[keys[i]] = row
        return torch.stack([self._rows[k] for k in keys])
