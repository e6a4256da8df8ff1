"""Run directories: create, refuse to clobber, resume, evaluate."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.distributions import Categorical

from .config import ConfigError, TrainConfig
from .envs import check_env_id, make_vec_env
from .models import DEFAULT_LM, LanguageModelError, build_agent
from .ppo import CHECKPOINT, CONFIG, METRICS, Trainer, load_checkpoint


class RunDirError(ValueError):
    """A run directory that cannot be used as asked (message names the fix)."""


def check_inputs(cfg: TrainConfig) -> None:
    """Everything that can be checked before anything is written."""
    cfg.validate()
    check_env_id(cfg.env_id)
    if cfg.agent == "helm" and cfg.lm != DEFAULT_LM:
        p = Path(cfg.lm).expanduser()
        if (p.is_absolute() or cfg.lm.startswith((".", "~"))) and not p.is_dir():
            raise LanguageModelError(
                f"--lm {cfg.lm}: no such folder; give a folder saved with save_pretrained or '{DEFAULT_LM}'"
            )


def prepare_run(cfg: TrainConfig, run_dir: Path, overwrite: bool = False, progress: bool = True) -> Trainer:
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
    trainer = Trainer(cfg, run_dir, progress=progress)  # builds everything before touching the folder
    if overwrite and run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg.save(run_dir / CONFIG)
    return trainer


def resume_run(
    run_dir: Path, overrides: dict[str, Any], progress: bool = True
) -> tuple[Trainer, TrainConfig]:
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).exists() or not (run_dir / CHECKPOINT).exists():
        raise RunDirError(f"--resume {run_dir}: no config.json and checkpoint.pt there; is it a helmrl run?")
    cfg = TrainConfig.load(run_dir / CONFIG)
    allowed = {"total_steps", "checkpoint_every", "torch_threads"}
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
    return Trainer(cfg, run_dir, progress=progress), cfg


def load_agent(run_dir: Path):  # noqa: ANN201
    """(config, agent with the checkpoint's weights) of a run directory."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).exists():
        raise RunDirError(f"{run_dir}: no config.json; is it a helmrl run directory?")
    cfg = TrainConfig.load(run_dir / CONFIG)
    state = load_checkpoint(run_dir / CHECKPOINT)
    envs = make_vec_env(cfg.env_id, 1)
    obs_shape, n_actions = envs.single_observation_space.shape, int(envs.single_action_space.n)
    envs.close()
    agent = build_agent(cfg, obs_shape, n_actions)
    agent.load_state_dict(state["agent"])
    agent.eval()
    return cfg, agent


@torch.no_grad()
def evaluate_run(run_dir: Path, episodes: int, greedy: bool = False, seed: int = 12345) -> list[float]:
    """Raw (unnormalised) returns of ``episodes`` full episodes."""
    cfg, agent = load_agent(run_dir)
    n_envs = min(episodes, cfg.n_envs)
    envs = make_vec_env(cfg.env_id, n_envs)
    torch.manual_seed(seed)
    obs, _ = envs.reset(seed=seed)
    obs, start = torch.as_tensor(obs), torch.ones(n_envs, dtype=torch.bool)
    agent.reset_memory(n_envs)
    ep_ret = np.zeros(n_envs)
    # Each env plays a fixed quota of episodes, so short episodes are not over-represented.
    quota = np.array([episodes // n_envs + (i < episodes % n_envs) for i in range(n_envs)])
    returns: list[float] = []
    while quota.sum() > 0:
        logits, _, _ = agent.act(obs, start)
        action = logits.argmax(-1) if greedy else Categorical(logits=logits).sample()
        o, r, term, trunc, _ = envs.step(action.numpy())
        done = term | trunc
        ep_ret += r
        for i in np.flatnonzero(done & (quota > 0)):
            returns.append(float(ep_ret[i]))
            quota[i] -= 1
        ep_ret[done] = 0.0
        obs, start = torch.as_tensor(o), torch.as_tensor(done)
    envs.close()
    return returns
