"""One frozen LM step for several processes: the seeds of a group share the PLT.

HELM's LM is frozen and the same for every seed, and the PPO update never runs it (the
histories are stored in the rollout). So the seeds of a group can train in processes of their
own (their envs, FrozenHopfield projections, agents, optimizers, reward scalers and RNGs apart)
and meet only at the LM: each step, every member sends its FrozenHopfield outputs x_t (B, m)
and episode starts, one server process steps one streaming memory over all members' rows
(N·B of them), and each member gets its own rows back.

Per env the step costs a fraction of a B-env step (docs/performance.md measures it), which is
what a group buys. The rows of a member do not depend on the other members' rows: the memory
is per env, so batching changes only the GEMMs' shapes (a group of one steps exactly the rows a
single run steps; with more members the kernels may round differently, ~1e-6 relative in fp32).

The members step in lock-step: the server waits for every active member before it steps. A
member that finishes, stops or dies leaves the group (its pipe closes), and the others go on
without it: the departed member's rows are stepped as fresh episodes of zeros, and nobody
reads them.
"""

from __future__ import annotations

import sys
import time
from multiprocessing.connection import Connection

import numpy as np
import torch

from ..errors import HistoryConfigError
from .history_config import HistoryConfig, parse_history_layer

STEP, LEAVE = "step", "leave"


class SharedLMMemory:
    """A member's share of the group's LM memory: the interface of ``StreamingLMMemory`` that
    ``FrozenHistory`` steps (``n_envs``, ``reset()``, a call per step), over a pipe to the server.

    ``reset()`` sends nothing: the first step after a reset marks every env as an episode start,
    which clears the member's rows on the server, as ``StreamingLMMemory.reset`` would."""

    def __init__(self, conn: Connection, n_envs: int):
        self.conn, self.n_envs = conn, n_envs

    def reset(self) -> None:
        pass

    def __call__(self, x: torch.Tensor, episode_start: torch.Tensor) -> torch.Tensor:
        try:
            self.conn.send((STEP, x.detach().float().cpu().numpy(), episode_start.cpu().numpy().astype(bool)))
            return torch.from_numpy(self.conn.recv())
        except (EOFError, BrokenPipeError, ConnectionResetError):
            raise HistoryConfigError("the seed group's LM process has stopped; its error is above") from None

    def snapshot_step(self, episode_start: torch.Tensor):
        raise HistoryConfigError(
            "a seed group's shared LM cannot step one member alone (final_history, bootstrap_truncated); "
            "train such runs one seed at a time"
        )

    restore_step = snapshot_step

    def leave(self) -> None:
        try:
            self.conn.send((LEAVE,))
        except (BrokenPipeError, OSError):
            pass


def serve(
    cfg: HistoryConfig,
    n_envs: list[int],
    conns: list[Connection],
    device: str = "cpu",
    threads: int = 0,
) -> None:
    """The server loop: one LM memory for ``sum(n_envs)`` rows, member i's rows in order; step it
    whenever every active member has sent its step; return when every member has left.

    ``cfg``: the members' history config (the LM, mem_len, n_sink, layers, dtype: the parts they
    share; β, the similarity and the seed are FrozenHopfield's, which stays with each member)."""
    from .language_model import load_language_model
    from .lm_memory import make_lm_memory
    from .precision import resolve_frozen_dtype

    if threads:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    model = load_language_model(cfg.lm, seed=cfg.seed, n_layers=cfg.lm_layers).model.to(dev)
    layers = parse_history_layer(cfg.history_layer, model.config.num_hidden_layers)
    dtype = resolve_frozen_dtype(cfg.frozen_dtype, dev)
    total = sum(n_envs)
    memory = make_lm_memory(model, total, cfg.mem_len, cfg.n_sink, dtype, cfg.memory_impl, layers=layers)
    memory.reset()
    offsets = np.cumsum([0, *n_envs])
    width = model.config.hidden_size
    active = set(range(len(conns)))
    steps, waiting, stepping_s = 0, 0.0, 0.0  # where the LM process's time goes, said at the end
    while active:
        t0 = time.perf_counter()
        x = torch.zeros(total, width)
        starts = torch.ones(total, dtype=torch.bool)  # departed and idle rows: fresh episodes
        stepping = []
        for i in sorted(active):
            try:
                msg = conns[i].recv()
            except (EOFError, OSError):  # the member died: it leaves
                msg = (LEAVE,)
            if msg[0] == LEAVE:
                active.discard(i)
                continue
            _, xi, si = msg
            x[offsets[i] : offsets[i + 1]] = torch.from_numpy(xi)
            starts[offsets[i] : offsets[i + 1]] = torch.from_numpy(si)
            stepping.append(i)
        if not stepping:
            continue
        t1 = time.perf_counter()
        out = memory(x, starts).cpu().numpy()
        waiting, stepping_s, steps = waiting + t1 - t0, stepping_s + time.perf_counter() - t1, steps + 1
        for i in stepping:
            try:
                conns[i].send(np.ascontiguousarray(out[offsets[i] : offsets[i + 1]]))
            except (BrokenPipeError, OSError):
                active.discard(i)
    if steps:
        print(
            f"shared LM: {steps} steps of {total} envs, {stepping_s / steps * 1e3:.1f} ms a step; "
            f"{stepping_s:.0f} s stepping, {waiting:.0f} s waiting for the members",
            file=sys.stderr,
        )
