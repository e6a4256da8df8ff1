"""Run directories: create, refuse to clobber, resume, evaluate."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from .config import RESUMABLE, ConfigError, TrainConfig
from .envs import check_env_id, make_vec_env
from .errors import RunDirError
from .frozen import DEFAULT_LM, LanguageModelError
from .ppo import CHECKPOINT, CONFIG, METRICS, ActingLoop, Trainer, TrainResult, load_checkpoint, play_returns
from .ppo.checkpoint import check_config


def check_inputs(cfg: TrainConfig) -> None:
    """Everything that can be checked before anything is written."""
    from .devices import resolve_device
    from .frozen import RANDOM_INIT
    from .models import agent_class

    cfg.validate()
    check_env_id(cfg.env_id)
    resolve_device(cfg.device)
    if agent_class(cfg.agent).uses_history and cfg.lm not in (DEFAULT_LM, RANDOM_INIT):
        p = Path(cfg.lm).expanduser()
        if (p.is_absolute() or cfg.lm.startswith((".", "~"))) and not p.is_dir():
            raise LanguageModelError(
                f"--lm {cfg.lm}: no such folder; give a folder saved with save_pretrained or '{DEFAULT_LM}'"
            )
    if agent_class(cfg.agent).history_inputs != "hopfield":
        from .frozen.vision_encoder import check_vision_encoder

        check_vision_encoder(cfg.vision_encoder)


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
    allowed = RESUMABLE
    changed = {k: v for k, v in overrides.items() if getattr(cfg, k) != v}
    if set(changed) - allowed:
        raise ConfigError(
            f"--resume keeps the run's config; only {', '.join(sorted(allowed))} may change "
            f"(got {', '.join(sorted(set(changed) - allowed))})"
        )
    cfg = cfg.replace(**changed)
    check_inputs(cfg)
    if changed:
        cfg.save(run_dir / CONFIG)
    return Trainer.from_config(cfg, run_dir, progress=progress, lm_memory=lm_memory), cfg


def load_agent(run_dir: Path, device: str = "auto"):
    """(config, agent with the checkpoint's weights, frozen history stage or None), on
    ``device`` ('auto': a GPU when torch sees one, whatever the run trained on)."""
    from .devices import resolve_device
    from .frozen import build_frozen_history
    from .models import agent_class

    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).exists():
        raise RunDirError(f"{run_dir}: no config.json; is it a helmrl run directory?")
    cfg = TrainConfig.load(run_dir / CONFIG)
    state = load_checkpoint(run_dir / CHECKPOINT)
    check_config(state, cfg.to_dict(), run_dir / CHECKPOINT, may_differ=RESUMABLE)
    dev = resolve_device(device)
    envs = make_vec_env(cfg.env_id, 1)
    obs_shape, n_actions = envs.single_observation_space.shape, int(envs.single_action_space.n)
    envs.close()
    cls = agent_class(cfg.agent)
    history = build_frozen_history(cfg.history(), obs_shape, dev) if cls.uses_history else None
    agent = cls.from_config(cfg.net(), obs_shape, n_actions, history.out_dim if history else 0)
    agent.load_state_dict(state["agent"])
    return cfg, agent.to(dev).eval(), history


def evaluate_run(run_dir: Path, episodes: int, greedy: bool = False, seed: int = 12345) -> list[float]:
    """Raw (unnormalised) returns of ``episodes`` full episodes."""
    cfg, agent, history = load_agent(run_dir)
    # HELMv2 standardises its inputs over the envs of a step: evaluate with as many as it trained with
    coupled = getattr(history, "couples_envs", False)
    envs = make_vec_env(cfg.env_id, cfg.n_envs if coupled else min(episodes, cfg.n_envs))
    torch.manual_seed(seed)
    loop = ActingLoop(envs, agent, history, device=next(agent.parameters()).device)
    loop.reset(seed)
    try:
        return play_returns(loop, episodes, greedy)
    finally:
        envs.close()
