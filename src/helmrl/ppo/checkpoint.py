"""Checkpoints: plain tensors and data only, written atomically, loaded with weights_only."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError

CHECKPOINT = "checkpoint.pt"
FORMAT = 1


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write to a temp file in the same folder, fsync, then rename: a kill mid-save leaves the
    previous checkpoint intact."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        torch.save({"format": FORMAT, **state}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}; train first or point to a run directory")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"{path} is corrupt or holds objects other than tensors and plain data, refused ({first})"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a helmrl checkpoint (format {FORMAT})")
    return state


def load_agent_state(agent: torch.nn.Module, state: dict[str, Any], path: Path) -> None:
    """The checkpoint's parameters into ``agent``; parameters of another shape (a network built by
    another helmrl version from the same config) are refused in one line."""
    try:
        agent.load_state_dict(state["agent"])
    except RuntimeError as err:
        first = next((ln.strip() for ln in str(err).splitlines() if "size mismatch" in ln), "")
        if not first:
            raise
        raise CheckpointError(
            f"{path}: its parameters do not fit the network this helmrl builds from the same config "
            f"({first.rstrip('.')}); resume it with the commit that wrote it (attempts.log names it)"
        ) from None


def check_config(state: dict[str, Any], config: dict[str, Any], path: Path, may_differ=frozenset()) -> None:
    """The checkpoint records the config that trained it; refuse to load it under another one
    (an edited config.json would otherwise rebuild a different model around the weights, or resume
    PPO with other settings). Fields in ``may_differ`` (resume's own overrides) and fields one side
    does not know (another helmrl version) are not compared."""
    stored = state.get("config") or {}
    diff = [k for k, v in config.items() if k in stored and k not in may_differ and stored[k] != v]
    if diff:
        shown = ", ".join(f"{k}={stored[k]!r} there but {config[k]!r} now" for k in diff[:3])
        raise CheckpointError(
            f"{path} was trained with another config ({shown}); restore config.json or train a new run"
        )
