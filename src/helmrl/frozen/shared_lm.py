"""One frozen LM step for several processes: the seeds of a group share the PLT.

HELM's LM is frozen and the same for every seed, and the PPO update never runs it (the
histories are stored in the rollout). So the seeds of a group can train in processes of their
own (their envs, agents, optimizers, reward scalers and RNGs apart) and meet only at the frozen
step: each step, every member sends its raw observations (B, ...) and episode starts, and one
server process computes every member's x_t = Eᵀ softmax(β · sim(E, P_i o_t)) with that
member's own projection P_i, β and cache, then steps one streaming memory over all members'
rows (N·B of them); each member gets its own histories back. FrozenHopfield runs there too
because its cost is two passes over E (49,152 × 576 for SmolLM2) whatever the batch: one pass
for all members' new observations instead of one per member.

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
    """A member's share of the group's frozen step, over a pipe to the server: in place of
    a ``HistoryStage``'s memory (``n_envs``, ``reset()``), and with ``retrieves`` set, so that
    the stage hands it raw observations (``step_observations``) instead of x_t.

    ``reset()`` sends nothing: the first step after a reset marks every env as an episode start,
    which clears the member's rows on the server, as ``StreamingLMMemory.reset`` would. The
    server's cache of the member's retrievals lives as long as the group (a single run clears
    its cache on reset; the cached rows are the same values, so only the cost differs)."""

    retrieves = True

    def __init__(self, conn: Connection, n_envs: int):
        self.conn, self.n_envs = conn, n_envs

    def reset(self) -> None:
        pass

    def step_observations(self, obs: torch.Tensor, episode_start: torch.Tensor) -> torch.Tensor:
        """(B, ...) raw observations and (B,) starts -> (B, out_dim) float32 LM states."""
        try:
            self.conn.send((STEP, obs.cpu().numpy(), episode_start.cpu().numpy().astype(bool)))
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
    cfgs: list[HistoryConfig],
    n_envs: list[int],
    conns: list[Connection],
    device: str = "cpu",
    threads: int = 0,
) -> None:
    """The server loop: member i's FrozenHopfield (its ``cfgs[i]``: β, similarity, seed, cache)
    and one LM memory for ``sum(n_envs)`` rows, member i's rows in order; step whenever every
    active member has sent its step; return when every member has left.

    The members share the LM and its memory's settings (lm, mem_len, n_sink, layers, dtype),
    which are read from ``cfgs[0]``, and the similarity (one normalised E for all)."""
    from .frozen_hopfield import FrozenHopfield, observation_to_vector
    from .language_model import load_language_model
    from .lm_memory import make_lm_memory
    from .observation_cache import ObservationCache
    from .precision import resolve_frozen_dtype

    if threads:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    cfg = cfgs[0]
    model = load_language_model(cfg.lm, seed=cfg.seed, n_layers=cfg.lm_layers).model.to(dev)
    layers = parse_history_layer(cfg.history_layer, model.config.num_hidden_layers)
    dtype = resolve_frozen_dtype(cfg.frozen_dtype, dev)
    total = sum(n_envs)
    memory = make_lm_memory(model, total, cfg.mem_len, cfg.n_sink, dtype, cfg.memory_impl, layers=layers)
    memory.reset()
    emb = model.get_input_embeddings().weight.detach()
    hopfields: list[FrozenHopfield] = []  # built at the first step, when the observations' size is known
    caches = [ObservationCache(c.hopfield_cache) for c in cfgs]
    offsets = np.cumsum([0, *n_envs])
    width = model.config.hidden_size
    active = set(range(len(conns)))
    steps, waiting, stepping_s = 0, 0.0, 0.0  # where the LM process's time goes, said at the end
    while active:
        t0 = time.perf_counter()
        received: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for i in sorted(active):
            try:
                msg = conns[i].recv()
            except (EOFError, OSError):  # the member died: it leaves
                msg = (LEAVE,)
            if msg[0] == LEAVE:
                active.discard(i)
            else:
                received[i] = (msg[1], msg[2])
        if not received:
            continue
        t1 = time.perf_counter()
        with torch.inference_mode():
            if not hopfields:
                obs_dim = observation_to_vector(torch.from_numpy(next(iter(received.values()))[0][:1])).shape[
                    1
                ]
                hopfields = [
                    FrozenHopfield(
                        emb, obs_dim, c.beta, similarity=c.similarity, seed=c.seed, dtype=dtype
                    ).to(dev)
                    for c in cfgs
                ]
            x = torch.zeros(total, width, dtype=hopfields[0].embeddings.dtype, device=dev)
            starts = torch.ones(total, dtype=torch.bool, device=dev)  # departed rows: fresh episodes
            _retrieve_all(received, hopfields, caches, offsets, x)
            for i, (_, si) in received.items():
                starts[offsets[i] : offsets[i + 1]] = torch.from_numpy(si)
            out = memory(x, starts).cpu().numpy()
        waiting, stepping_s, steps = waiting + t1 - t0, stepping_s + time.perf_counter() - t1, steps + 1
        for i in received:
            try:
                conns[i].send(np.ascontiguousarray(out[offsets[i] : offsets[i + 1]]))
            except (BrokenPipeError, OSError):
                active.discard(i)
    if steps:
        print(
            f"shared LM: {steps} steps of {total} envs, {stepping_s / steps * 1e3:.1f} ms a step "
            f"(FrozenHopfield included); {stepping_s:.0f} s stepping, "
            f"{waiting:.0f} s waiting for the members",
            file=sys.stderr,
        )


def _retrieve_all(received, hopfields, caches, offsets, x: torch.Tensor) -> None:
    """Every member's x_t through its cache; the rows no cache holds go through one similarity
    GEMM and one value GEMM over E for all members, each row with its member's P and β.

    Per row this is ``FrozenHopfield.forward``: the query P_i·o (normalised for cosine), the
    logits (q @ Ê) · β_i in fp32, the softmax and the value product in E's dtype."""
    from .frozen_hopfield import observation_to_vector

    first = hopfields[0]
    dev = first.embeddings.device
    pending = []  # (member, keys, missing, first row in the batch)
    queries, betas = [], []
    n = 0
    for i, (obs, _) in received.items():
        o = torch.from_numpy(obs)
        keys, missing = caches[i].lookup(o) if caches[i].size else ([], list(range(len(o))))
        if missing:
            q = observation_to_vector(o[missing].to(dev)).float() @ hopfields[i].projection_t
            if first.similarity == "cosine":
                q = q / q.norm(dim=1, keepdim=True).clamp_min(1e-12)
            queries.append(q)
            betas.append(torch.full((len(missing), 1), hopfields[i].beta, device=dev))
        pending.append((i, keys, missing, n))
        n += len(missing)
    fresh = None
    if queries:
        logits = (torch.cat(queries) @ first.keys_t) * torch.cat(betas)
        fresh = torch.softmax(logits, dim=1).to(first.embeddings.dtype) @ first.embeddings
    for i, keys, missing, at in pending:
        rows = fresh[at : at + len(missing)] if missing else None
        if caches[i].size:
            x[offsets[i] : offsets[i + 1]] = caches[i].fill(keys, missing, rows)
        else:
            x[offsets[i] : offsets[i + 1]] = rows
