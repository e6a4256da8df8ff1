"""Seeds of one config trained together: a process per seed, one frozen LM for all of them.

    helmrl train --preset randommaze --agent helm --seeds 0,1,2,3,4 --run-dir runs/rm-helm

writes ``runs/rm-helm/s0`` … ``s4``, each an ordinary run directory (its config with its own
seed, metrics.csv, TensorBoard, checkpoint.pt), and ``helmrl train --resume runs/rm-helm``
resumes them as a group. Each member is a normal ``Trainer`` in a process of its own (so its
RNG streams, envs, agent, optimizer and reward scaler are its own, exactly as in a single run);
only the frozen step runs elsewhere, in one server process for all members
(``helmrl.frozen.shared_lm``): FrozenHopfield with each member's own projection, β and cache, and
the LM over every member's envs at once. A group of one trains exactly its single run; in larger
groups the LM's GEMMs see more rows and may round differently (``tests/test_seed_group.py``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .config import TrainConfig, resume_changes
from .errors import BAD_INPUT, ConfigError, UsageError

#: the history fields the members share (the LM and its memory); the rest are each member's own
SHARED_FIELDS = (
    "lm", "mem_len", "n_sink", "frozen_dtype", "history_layer", "lm_layers", "memory_impl", "similarity",
)  # fmt: skip


def parse_seeds(text: str) -> list[int]:
    """'0,1,2' or '0-4' (or a mix, '0-2,7') -> distinct non-negative seeds, in order."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:
                lo, hi = (int(p) for p in part.split("-", 1))
                if hi < lo:
                    raise ValueError
                seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise ConfigError(
                f"--seeds {text!r}: expected seeds like 0,1,2 or 0-4 (non-negative integers)"
            ) from None
    if not seeds or any(s < 0 for s in seeds):
        raise ConfigError(f"--seeds {text!r}: expected seeds like 0,1,2 or 0-4 (non-negative integers)")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {text!r}: seed {_first_repeat(seeds)} is given twice")
    return seeds


def _first_repeat(seeds: list[int]) -> int:
    seen: set[int] = set()
    return next(s for s in seeds if s in seen or seen.add(s))  # type: ignore[func-returns-value]


def group_members(run_dir: Path) -> list[Path]:
    """A seed group's member run directories (s<seed>/), or [] where ``run_dir`` is one run."""
    if (run_dir / "config.json").exists():
        return []
    found = [d for d in run_dir.glob("s*") if d.name[1:].isdigit() and (d / "config.json").exists()]
    return sorted(found, key=lambda d: int(d.name[1:]))


def resume_group_configs(root: Path, overrides: dict) -> tuple[list[TrainConfig], list[Path]]:
    """The configs and run directories of the group in ``root`` to resume, with ``overrides``
    (``config.resume_changes``); a one-line error otherwise."""
    dirs = group_members(root)
    if not dirs:
        raise UsageError(f"--resume {root}: no s<seed>/ run directories of a seed group there")
    cfgs = [TrainConfig.load(d / "config.json") for d in dirs]
    for c in cfgs:
        resume_changes(c, overrides)
    missing = [d.name for d in dirs if not (d / "checkpoint.pt").exists()]
    if missing:
        raise UsageError(f"--resume {root}: {missing[0]} has no checkpoint yet")
    return cfgs, dirs


def group_key(cfg: TrainConfig) -> tuple | None:
    """What cells must agree on to train as one group (None: the cell cannot join one)."""
    try:
        check_group([cfg])
    except ConfigError:
        return None
    return (cfg.total_steps, *(cfg.get(name) for name in SHARED_FIELDS))


def check_group(cfgs: Sequence[TrainConfig]) -> None:
    """Refuse, in one line, a group whose members cannot share one LM."""
    from .frozen.language_model import RANDOM_INIT
    from .models.agents import agent_class

    cfg = cfgs[0]
    cls = agent_class(cfg.agent)
    if not cls.uses_history or cfg.history.input_map != "hopfield":
        raise ConfigError(
            f"--seeds shares HELM's frozen LM between seeds; {cfg.agent} has none to share "
            "(run its seeds as separate runs, e.g. with helmrl sweep)"
        )
    if cfg.history.lm == RANDOM_INIT:
        raise ConfigError("--seeds with --lm random-init: each seed draws its own LM, so none is shared")
    if cfg.ppo.bootstrap_truncated:
        raise ConfigError(
            "--seeds with --bootstrap-truncated: the final observations' histories step one member's "
            "memory alone; train such runs one seed at a time"
        )
    for other in cfgs[1:]:
        for name in SHARED_FIELDS:
            if other.get(name) != cfg.get(name):
                raise ConfigError(
                    f"a seed group shares one LM: {name} must agree ({cfg.get(name)!r} "
                    f"and {other.get(name)!r})"
                )


def _member(
    cfg: dict, run_dir: str, resume: bool, overwrite: bool, conn, threads: int, overrides: dict, note: str
) -> None:
    """One seed's process: a normal run whose LM memory is its share of the group's."""
    os.setsid()  # the group's process forwards stop signals; a terminal's Ctrl-C must not count twice
    import torch

    from .frozen.shared_lm import SharedLMMemory
    from .runs import prepare_run, resume_run

    torch.set_num_threads(threads)
    shares: list[SharedLMMemory] = []

    def share(n_envs: int) -> SharedLMMemory:
        shares.append(SharedLMMemory(conn, n_envs))
        return shares[-1]

    code = 1
    try:
        config = TrainConfig.from_dict(cfg)
        if resume:
            trainer, _ = resume_run(Path(run_dir), overrides, progress=False, lm_memory=share)
        else:
            earlier = Path(run_dir, "attempts.log")  # a start that never saved: its line is kept
            kept = earlier.read_text() if earlier.exists() else ""
            trainer = prepare_run(config, Path(run_dir), overwrite=overwrite, progress=False, lm_memory=share)
            if kept and not earlier.exists():
                earlier.write_text(kept)
        if note:  # a sweep cell's attempts.log line, once its run directory exists
            with open(Path(run_dir) / "attempts.log", "a") as fh:
                fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} pid={os.getpid()} start {note}\n")
        result = trainer.train(resume=resume)
        code = 130 if result.interrupted else 0
    except BAD_INPUT as err:  # one line, as `helmrl train` prints it for a single run
        print(f"helmrl train: {Path(run_dir).name}: error: {err}", file=sys.stderr)
        code = 2
    finally:
        SharedLMMemory(conn, 0).leave()
        conn.close()
    raise SystemExit(code)


def _serve(history_cfgs, n_envs: list[int], conns, device: str, threads: int) -> None:
    from .frozen.shared_lm import serve

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # it ends when the members have left
    serve(history_cfgs, n_envs, conns, device=device, threads=threads)


def train_group(
    cfgs: Sequence[TrainConfig],
    run_dirs: Sequence[Path],
    resume: Sequence[bool],
    overwrite: bool = False,
    progress: bool = True,
    member_threads: int = 1,
    lm_threads: int = 0,
    resume_overrides: dict | None = None,
    notes: Sequence[str] | None = None,
    log=print,
) -> list[int]:
    """Train ``cfgs`` (one per seed) into ``run_dirs`` together -> each member's exit code
    (0 done, 130 stopped by a signal after saving, else failed; its own messages went to stderr).
    A member with ``resume`` continues its run directory (``resume_overrides``: what
    ``helmrl train --resume`` may change, e.g. total_steps). ``notes``: a line per member for its
    attempts.log once it has started (a sweep's record), or None.

    ``member_threads``: torch threads of each member (its CNN, heads and PPO update);
    ``lm_threads``: of the LM's process (0: the members' ``torch_threads`` where set, else every
    core, as the LM step is the group's bottleneck)."""
    from .devices import resolve_device

    check_group(cfgs)
    for cfg in cfgs:
        cfg.validate()
    device = str(resolve_device(cfgs[0].device))
    # The LM's threads: the members' setting where they have one (a sweep's one thread a cell:
    # on a busy machine, a 2-thread LM step beside another job is several times slower), else
    # every core.
    lm_threads = lm_threads or cfgs[0].torch_threads or os.cpu_count() or 1
    ctx = mp.get_context("spawn")  # fork would copy torch's thread pools and locks
    pairs = [ctx.Pipe() for _ in cfgs]
    server = ctx.Process(
        target=_serve,
        args=(
            [c.history for c in cfgs],
            [c.n_envs for c in cfgs],
            [a for a, _ in pairs],
            device,
            lm_threads,
        ),
        name="helmrl-lm",
    )
    server.start()
    members = []
    notes = notes or [""] * len(cfgs)
    for cfg, run_dir, again, (_, conn), note in zip(cfgs, run_dirs, resume, pairs, notes, strict=True):
        cfg = cfg.replace(torch_threads=cfg.torch_threads or member_threads)
        p = ctx.Process(
            target=_member,
            args=(
                cfg.to_dict(),
                str(run_dir),
                again,
                overwrite,
                conn,
                cfg.torch_threads,
                resume_overrides or {},
                note,
            ),
            name=f"helmrl-s{cfg.seed}",
        )
        p.start()
        members.append(p)
    for a, b in pairs:  # only the server and the members hold the pipes now: a death closes them
        a.close()
        b.close()

    stops = 0

    def forward(signum, frame):
        nonlocal stops
        stops += 1
        log("\nstopping: each seed finishes its update and saves (again: stop now)" if stops == 1 else "")
        for p in members:
            if p.is_alive():
                os.kill(p.pid, signal.SIGTERM)

    old = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _wait(members, cfgs, run_dirs, progress)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        server.join(timeout=60)
        if server.is_alive():
            server.terminate()
    return [p.exitcode if p.exitcode is not None else 1 for p in members]


def _wait(members, cfgs, run_dirs, progress: bool) -> None:
    """Until every member has ended; a bar of the env steps summed over the seeds."""
    from .ppo.metrics import progress_bar

    total = sum(c.total_steps for c in cfgs)
    bar = progress_bar(total, 0, progress)
    try:
        while any(p.is_alive() for p in members):
            time.sleep(2.0)
            bar.n = sum(_logged_steps(d) for d in run_dirs)
            bar.refresh()
    finally:
        bar.n = sum(_logged_steps(d) for d in run_dirs)
        bar.close()
        for p in members:
            p.join()


def _logged_steps(run_dir: Path) -> int:
    try:
        lines = (Path(run_dir) / "metrics.csv").read_text().strip().splitlines()
    except FileNotFoundError:
        return 0
    return int(lines[-1].split(",")[1]) if len(lines) > 1 else 0
