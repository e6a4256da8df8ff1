"""Run directories: create, refuse to clobber, resume, evaluate."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch
from gymnasium.vector import VectorEnv

from .build import build, eval_env_count
from .config import RESUMABLE, TrainConfig, resume_changes
from .envs import check_env_id
from .errors import LanguageModelError, RunDirError
from .frozen.language_model import DEFAULT_LM
from .models.agents import Agent
from .ppo.acting import ActingLoop, play_returns
from .ppo.checkpoint import CHECKPOINT, check_config, load_agent_state, load_checkpoint
from .ppo.metrics import CONFIG, METRICS
from .ppo.trainer import Trainer, TrainResult


def check_inputs(cfg: TrainConfig) -> None:
    """Everything that can be checked before anything is written."""
    from .devices import resolve_device
    from .frozen.language_model import RANDOM_INIT
    from .models.agents import agent_class

    cfg.validate()
    check_env_id(cfg.env_id)
    resolve_device(cfg.device)
    lm = cfg.history.lm
    if agent_class(cfg.agent).uses_history and lm not in (DEFAULT_LM, RANDOM_INIT):
        p = Path(lm).expanduser()
        if (p.is_absolute() or lm.startswith((".", "~"))) and not p.is_dir():
            raise LanguageModelError(
                f"--lm {lm}: no such folder; give a folder saved with save_pretrained or '{DEFAULT_LM}'"
            )
    if cfg.history.input_map != "hopfield":
        from .frozen.vision_encoder import check_vision_encoder

        check_vision_encoder(cfg.history.vision_encoder)


def prepare_run(
    cfg: TrainConfig, run_dir: Path, overwrite: bool = False, progress: bool = True, lm_memory=None
) -> Trainer:
    """A new run's trainer, built before ``run_dir`` is touched (``lm_memory``: Trainer.from_config's)."""
    check_inputs(cfg)
    run_dir = Path(run_dir)
    if run_dir.exists() and any(run_dir.iterdir()):
        if not (run_dir / CONFIG).exists() and not (run_dir / METRICS).exists():
            raise RunDirError(
                f"--run-dir {run_dir} is a non-empty folder that is not a helmrl run; pick another"
            )
        if not overwrite:
            raise RunDirError(
                f"--run-dir {run_dir} holds another run; continue it with --resume {run_dir}, "
                "pick a new --run-dir, or pass --overwrite to replace it"
            )
    # builds everything before touching the folder
    trainer = Trainer.from_config(cfg, run_dir, progress=progress, lm_memory=lm_memory)
    if overwrite and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg.save(run_dir / CONFIG)
    return trainer


def train(
    cfg: TrainConfig, run_dir: Path | str | None = None, overwrite: bool = False, progress: bool = True
) -> TrainResult:
    """Train ``cfg`` into ``run_dir`` (default ``runs/<env>-<agent>-s<seed>``), as ``helmrl train``
    does: config.json, metrics.csv, TensorBoard and a checkpoint; resume with ``helmrl train --resume``."""
    run_dir = Path(run_dir) if run_dir is not None else Path("runs") / f"{cfg.env_id}-{cfg.agent}-s{cfg.seed}"
    return prepare_run(cfg, run_dir, overwrite=overwrite, progress=progress).train()


def resume_run(
    run_dir: Path, overrides: dict[str, Any], progress: bool = True, lm_memory=None
) -> tuple[Trainer, TrainConfig]:
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).exists() or not (run_dir / CHECKPOINT).exists():
        raise RunDirError(f"--resume {run_dir}: no config.json and checkpoint.pt there; is it a helmrl run?")
    cfg = TrainConfig.load(run_dir / CONFIG)
    changed = resume_changes(cfg, overrides)
    cfg = cfg.replace(**changed)
    check_inputs(cfg)
    if changed:
        cfg.save(run_dir / CONFIG)
    return Trainer.from_config(cfg, run_dir, progress=progress, lm_memory=lm_memory), cfg


def run_config(run_dir: Path) -> TrainConfig:
    """A run directory's config.json, or RunDirError in one line."""
    path = Path(run_dir) / CONFIG
    if not path.exists():
        raise RunDirError(f"{run_dir}: no config.json; is it a helmrl run directory?")
    return TrainConfig.load(path)


def load_run(run_dir: Path, n_envs: int = 1, device: str = "auto") -> tuple[TrainConfig, VectorEnv, Agent]:
    """(config, ``n_envs`` envs wrapped as the agent reads them, agent with the checkpoint's
    weights in eval mode), built by ``helmrl.build.build`` on ``device`` ('auto': a GPU when torch
    sees one, whatever the run trained on). The envs give the envs' own rewards."""
    run_dir = Path(run_dir)
    cfg = run_config(run_dir)
    state = load_checkpoint(run_dir / CHECKPOINT)
    check_config(state, cfg.to_dict(), run_dir / CHECKPOINT, may_differ=RESUMABLE)
    envs, agent = build(cfg, n_envs, device=device)
    load_agent_state(agent, state, run_dir / CHECKPOINT)
    return cfg, envs, agent.eval()


def evaluate_run(run_dir: Path, episodes: int, greedy: bool = False, seed: int = 12345) -> list[float]:
    """Raw (unnormalised) returns of ``episodes`` full episodes."""
    cfg = run_config(run_dir)
    _, envs, agent = load_run(run_dir, eval_env_count(cfg, min(episodes, cfg.n_envs)))
    torch.manual_seed(seed)
    loop = ActingLoop(envs, agent, device=next(agent.parameters()).device)
    loop.reset(seed)
    try:
        return play_returns(loop, episodes, greedy)
    finally:
        envs.close()
