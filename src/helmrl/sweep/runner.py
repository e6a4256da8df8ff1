"""Run a sweep's cells as Ray tasks, locally or on an existing Ray cluster.

Each cell is an ordinary run directory ``OUT/<env>-<agent>-s<seed>/``. A cell task trains from
scratch, resumes from the cell's checkpoint, or returns at once when the run is complete, so
re-running a sweep skips finished cells and a Ray retry (after a worker dies) continues from
the last checkpoint. On a cluster, OUT must be a filesystem every node sees at the same path.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from ..config import TrainConfig
from ..devices import describe_device
from ..ppo.checkpoint import CHECKPOINT, load_checkpoint
from ..ppo.metrics import CONFIG, read_metrics
from .spec import Cell, SweepSpec

ATTEMPTS = "attempts.log"
CELL_INFO = "cell.json"
#: episodes of the final policy's evaluation in cell.json (SB3's ``evaluate_policy`` protocol:
#: a fixed quota per env, fresh episodes, the policy sampled and greedy)
EVAL_EPISODES = 100


def cell_progress(run_dir: Path) -> int:
    """Updates already logged in the cell's run directory (0 if none)."""
    try:
        rows = read_metrics(run_dir)
    except (FileNotFoundError, KeyError, ValueError):
        return 0
    return int(rows[-1]["update"]) if rows else 0


def is_done(run_dir: Path, cfg: TrainConfig) -> bool:
    """All updates logged (the metrics alone decide: a finished cell kept without its
    checkpoint, e.g. committed to the repo, still counts as finished)."""
    return cell_progress(run_dir) >= cfg.num_updates


def cell_config(cell: Cell, cpus_per_run: int) -> TrainConfig:
    """The cell's config with torch's threads set to its CPUs (never oversubscribe)."""
    cfg = cell.config
    return cfg.replace(torch_threads=cpus_per_run) if cfg.torch_threads == 0 else cfg


def run_cell(config: dict[str, Any], run_dir: str, eval_episodes: int = EVAL_EPISODES) -> dict[str, Any]:
    """Train one cell to completion (resuming if it has a checkpoint), evaluate its final policy
    once -> its summary row. Runs inside a Ray worker; also callable directly."""
    from ..runs import prepare_run, resume_run

    cfg, path = TrainConfig.from_dict(config), Path(run_dir)
    if not is_done(path, cfg):
        commit = source_commit()  # now: the checkout may move on while the cell runs
        resume = (path / CHECKPOINT).exists() and (path / CONFIG).exists()
        start_update = load_checkpoint(path / CHECKPOINT)["update"] if resume else 0
        if resume:
            trainer, _ = resume_run(path, {"total_steps": cfg.total_steps}, progress=False)
        else:
            trainer = prepare_run(cfg, path, overwrite=path.exists(), progress=False)
        with open(path / ATTEMPTS, "a") as fh:
            fh.write(
                f"{time.strftime('%Y-%m-%dT%H:%M:%S')} pid={os.getpid()} start update={start_update} "
                f"commit={commit} host={platform.node()}\n"
            )
        t0 = time.perf_counter()
        result = trainer.train(resume=resume)
        record_cell_info(path, time.perf_counter() - t0, describe_device(trainer.device), commit)
        if result.interrupted:
            raise KeyboardInterrupt(f"cell {path.name} interrupted")
    if eval_episodes and "eval" not in _cell_info(path) and (path / CHECKPOINT).exists():
        record_evaluation(path, eval_episodes)
    return summary_row(path)


def run_cell_group(
    configs: list[dict[str, Any]], run_dirs: list[str], eval_episodes: int = EVAL_EPISODES
) -> list[dict[str, Any]]:
    """Train cells that can share HELM's LM as one seed group (``helmrl.seed_group``: a process
    per cell, one LM step for all of them), each resuming from its checkpoint where it has one,
    then record and evaluate each as ``run_cell`` does -> their summary rows. Each cell.json
    names the group its cell trained in."""
    from ..seed_group import train_group

    cfgs, paths = [TrainConfig.from_dict(c) for c in configs], [Path(d) for d in run_dirs]
    todo = [(c, p) for c, p in zip(cfgs, paths, strict=True) if not is_done(p, c)]
    if todo:
        commit = source_commit()
        resume = [(p / CHECKPOINT).exists() and (p / CONFIG).exists() for _, p in todo]
        notes = [
            f"update={load_checkpoint(p / CHECKPOINT)['update'] if again else 0} commit={commit} "
            f"host={platform.node()} group={len(todo)}"
            for (_, p), again in zip(todo, resume, strict=True)
        ]
        t0 = time.perf_counter()
        codes = train_group(
            [c for c, _ in todo],
            [p for _, p in todo],
            resume,
            overwrite=True,
            progress=False,
            resume_overrides={"total_steps": todo[0][0].total_steps},
            notes=notes,
        )
        seconds = time.perf_counter() - t0
        import torch

        device = f"{describe_device(torch.device('cpu'))} per member; one LM process for {len(todo)} cells"
        for _, p in todo:
            if (p / CONFIG).exists():
                record_cell_info(p, seconds, device, commit)
                info = _cell_info(p)
                info["group"] = sorted({*info.get("group", []), *(q.name for _, q in todo)})
                (p / CELL_INFO).write_text(json.dumps(info) + "\n")
        if any(code == 130 for code in codes):
            raise KeyboardInterrupt(f"cell group {', '.join(p.name for _, p in todo)} interrupted")
        failed = [p.name for (_, p), code in zip(todo, codes, strict=True) if code != 0]
        if failed:
            raise RuntimeError(f"cells {', '.join(failed)} failed in their group; their errors are above")
    if cfgs[0].torch_threads:  # the evaluations run here, on the cores the cells were given
        import torch

        torch.set_num_threads(cfgs[0].torch_threads)
    rows = []
    for p in paths:
        if eval_episodes and "eval" not in _cell_info(p) and (p / CHECKPOINT).exists():
            record_evaluation(p, eval_episodes)
        rows.append(summary_row(p))
    return rows


def cell_groups(cells: list[Cell], cpus_per_run: int) -> list[list[Cell]]:
    """The cells that differ only in seed, as groups sharing one LM (``seed_group.group_key``), in
    the spec's order; a cell that cannot join a group is a group of its own. Cells of other envs or
    variants could share the LM too, but a group is a process per member: grouping a whole grid
    would start dozens of processes on one machine."""
    from ..seed_group import group_key

    groups: dict[Any, list[Cell]] = {}
    for i, cell in enumerate(cells):
        cfg = cell_config(cell, cpus_per_run)
        alone = group_key(cfg) is None
        key = ("alone", i) if alone else json.dumps({**cfg.to_dict(), "seed": None}, sort_keys=True)
        groups.setdefault(key, []).append(cell)
    return list(groups.values())


def record_cell_info(path: Path, seconds: float, device: str, commit: str) -> None:
    """Add one attempt to the cell's cell.json: its wall time (summed over resumes), the device,
    CPU and host that ran it, the library versions, and its commit (every commit the cell ran on
    is kept). A cell resumed on another machine keeps each machine's record in ``machines``."""
    info = _cell_info(path)
    info["wall_s"] = info.get("wall_s", 0.0) + seconds
    info["device"] = device
    info["host"] = platform.node()
    info["commits"] = sorted(set(info.get("commits", [])) | {commit})
    machine = machine_record()
    info.update(machine)
    info["machines"] = [m for m in info.get("machines", []) if m != machine] + [machine]
    (path / CELL_INFO).write_text(json.dumps(info) + "\n")


def machine_record() -> dict[str, Any]:
    """The CPU's model and ISA flags (kernels, and so runs, differ by CPU) and the versions of
    the libraries whose numerics a run depends on."""
    from ..frozen.precision import ISA_FLAGS, cpu_info

    model, flags = cpu_info()
    versions = {"python": platform.python_version()}
    for name in (
        "torch",
        "transformers",
        "gymnasium",
        "minigrid",
        "numpy",
        "stable_baselines3",
        "sb3_contrib",
    ):
        try:  # the installed distribution's version, without importing it (SB3's import pulls in gym)
            versions[name] = importlib.metadata.version(name.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            continue
    isa = [f for f in (*ISA_FLAGS, "amx_tile", "avx512_vnni", "fma") if f in flags]
    return {"cpu_model": model or platform.processor(), "isa_flags": isa, "versions": versions}


def record_evaluation(path: Path, episodes: int = EVAL_EPISODES) -> None:
    """The final policy over ``episodes`` fresh episodes, sampled and greedy, into cell.json's
    ``eval``: the training curve's return mixes policies and carries exploration, this does not.
    An evaluation that fails is recorded as such; the trained cell is never lost to it."""
    from ..runs import evaluate_run

    info, result = _cell_info(path), {"episodes": episodes}
    for mode, greedy in (("sampled", False), ("greedy", True)):
        try:
            returns = evaluate_run(path, episodes, greedy=greedy)
        except Exception as err:  # noqa: BLE001 - the cell is trained; keep it whatever happens here
            result[f"{mode}_error"] = f"{type(err).__name__}: {err}"
            continue
        result[f"{mode}_mean"] = float(sum(returns) / len(returns))
        result[f"{mode}_returns"] = [round(r, 4) for r in returns]
    info["eval"] = result
    (path / CELL_INFO).write_text(json.dumps(info) + "\n")


def source_commit() -> str:
    """The git commit of the helmrl source that ran (with ``+dirty`` for uncommitted changes);
    outside a checkout, ``$HELMRL_COMMIT`` (a copied tree without .git, e.g. on an offline GPU
    machine) or ``unknown``. A cell resumed on newer code lists every commit it ran on."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "."],
            cwd=here.parent,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return os.environ.get("HELMRL_COMMIT", "unknown")
    return head + ("+dirty" if dirty else "")


def _cell_info(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / CELL_INFO).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def summary_row(run_dir: Path) -> dict[str, Any]:
    """env, agent, seed, steps, final_return (mean return of the last 100 training episodes, the
    paper's), eval_sampled and eval_greedy (the final policy over fresh episodes), wall_s, fps."""
    cfg = TrainConfig.load(run_dir / CONFIG)
    rows = read_metrics(run_dir)
    last = rows[-1] if rows else {}
    steps = int(last.get("step", 0))
    info = _cell_info(run_dir)
    wall = float(info.get("wall_s", math.nan))
    evaluation = info.get("eval", {})
    return {
        "env": cfg.env_id,
        "agent": cfg.agent + (f":{cfg.label}" if cfg.label else ""),
        "seed": cfg.seed,
        "steps": steps,
        "final_return": last.get("episode_return_mean", math.nan),
        "eval_sampled": evaluation.get("sampled_mean", math.nan),
        "eval_greedy": evaluation.get("greedy_mean", math.nan),
        "wall_s": round(wall, 1),
        "fps": round(steps / wall, 1) if wall and wall == wall else math.nan,
        "run_dir": str(run_dir),
    }


def run_sweep(
    spec: SweepSpec,
    out: Path,
    address: str | None = None,
    cpus_per_run: int = 1,
    max_retries: int = 3,
    log=print,
) -> list[dict[str, Any]]:
    """Run every unfinished cell on Ray; return the summary rows of the finished ones."""
    import ray

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cells: list[Cell] = spec.cells()
    rows, todo = [], []
    for cell in cells:
        cfg = cell_config(cell, cpus_per_run)
        if is_done(out / cell.name, cfg):
            rows.append(summary_row(out / cell.name))
        else:
            todo.append((cell, cfg))
    log(f"sweep {spec.name}: {len(cells)} cells, {len(rows)} already finished, {len(todo)} to run in {out}")
    if not todo:
        return rows
    if address:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    else:
        ray.init(
            num_cpus=os.cpu_count(),
            include_dashboard=False,
            ignore_reinit_error=True,
            log_to_driver=False,
            object_store_memory=200 * 2**20,
        )
    try:
        remote = ray.remote(num_cpus=cpus_per_run, max_retries=max_retries)(run_cell)
        pending = {
            remote.remote(cfg.to_dict(), str(out / cell.name), spec.eval_episodes): cell for cell, cfg in todo
        }
        slots = max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_per_run))
        failed = []
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=10.0)
            for ref in done:
                cell = pending.pop(ref)
                try:
                    rows.append(ray.get(ref))
                except Exception as err:  # noqa: BLE001 - one failed cell must not lose the others
                    failed.append(cell.name)
                    log(f"cell {cell.name} failed: {str(err).strip().splitlines()[-1]}")
            running = min(len(pending), slots)
            log(
                f"cells: {len(rows)} done, {running} running, {len(pending) - running} left"
                + (f", {len(failed)} failed" if failed else "")
            )
    finally:
        ray.shutdown()
    return rows
