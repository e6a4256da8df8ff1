"""One PPO trainer for every agent. ``train()`` reads top to bottom: collect, update, log,
checkpoint; the two PPO phases are ``helmrl.ppo.core``'s free functions, and the trainer only
orchestrates them.

``Trainer(envs, agent, cfg, run_dir)`` trains any agent on any gymnasium vector env with
same-step autoreset; ``Trainer.from_config(cfg, run_dir)`` builds both from a run's config with
``helmrl.build.build``, as evaluation, videos and analyses do.

All changing state is created in ``__init__``: the acting loop (next observation, episode starts,
the agent's recurrent state), the optimizer, the RNG and the counters; the envs' wrappers hold
the frozen history, the reward statistics and the episode statistics (gymnasium's
``RecordEpisodeStatistics``, under any reward scaler, so returns are the envs' own). Checkpoints
never touch it, so ``checkpoint_every`` cannot change what is learned. A checkpoint holds
everything the learner owns (parameters, optimizer, reward-scaler statistics, RNG states,
counters); a resumed run restores that exactly and, like Stable-Baselines3, starts fresh
episodes once.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from gymnasium.vector import AutoresetMode, VectorEnv

from ..config import RESUMABLE, TrainConfig, check_schedule_kept
from ..devices import resolve_device, warn_if_oversubscribed
from ..envs import ScaleReward, find_wrapper
from ..errors import NonFiniteError
from ..models.agents import Agent
from .acting import ActingLoop
from .checkpoint import CHECKPOINT, check_config, load_agent_state, load_checkpoint, save_checkpoint
from .core import collect, update
from .metrics import (
    METRICS,
    TENSORBOARD_SCALARS,
    EpisodeLog,
    append_metrics,
    metrics_row,
    progress_bar,
    tensorboard,
    truncate_metrics,
)
from .rollout import Rollout


@dataclass
class TrainResult:
    run_dir: Path
    global_step: int
    interrupted: bool = False

    @property
    def metrics_path(self) -> Path:
        return self.run_dir / METRICS

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT


class Trainer:
    """Owns the acting loop, optimizer and counters of one run, around injected envs and agent."""

    def __init__(
        self,
        envs: VectorEnv,
        agent: Agent,
        cfg: TrainConfig,
        run_dir: Path | str,
        progress: bool = True,
        log=print,  # one-line notices (e.g. an adapted minibatch split)
    ):
        """``envs``: ``cfg.n_envs`` sub-envs with same-step autoreset (``make_vec_env``'s), wrapped
        as the agent needs (``FrozenHistoryObservation`` for ``"history"``; an optional
        ``ScaleReward`` is found in the chain and checkpointed). ``agent``: built for them.
        The settings read from ``cfg`` are PPO's, ``seed``, ``device`` and the logging ones."""
        self.cfg, self.run_dir, self.progress, self.log = cfg, Path(run_dir), progress, log
        self.device = resolve_device(cfg.device)
        _check_envs(envs, agent, cfg)
        self.envs = _with_episode_statistics(envs)
        self.agent = agent.to(self.device)
        self.history = getattr(find_wrapper(self.envs, _history_wrapper()), "frozen_history", None)
        # fused: one kernel over all parameters (the per-tensor loop costs ~20% of a CPU update)
        self.optimizer = torch.optim.AdamW(
            self.agent.parameters(), lr=cfg.ppo.lr, eps=1e-8, weight_decay=cfg.ppo.weight_decay, fused=True
        )
        self.reward_scaler: ScaleReward | None = find_wrapper(self.envs, ScaleReward)
        self.acting = ActingLoop(self.envs, self.agent, device=self.device)
        self.n_minibatches = cfg.ppo.n_minibatches
        if (agent.recurrent or cfg.ppo.env_minibatches) and cfg.ppo.n_minibatches > cfg.n_envs:
            self.n_minibatches = cfg.n_envs
            log(
                f"note: {cfg.agent} splits minibatches by env, so n_minibatches {cfg.ppo.n_minibatches} -> "
                f"{cfg.n_envs} (one per env), as sb3-contrib's RecurrentPPO adapts its batches"
            )
        if cfg.ppo.segments_per_minibatch and not agent.recurrent:
            log(f"note: segments_per_minibatch applies to recurrent agents; {cfg.agent} ignores it")
        # counters and the episodes' log
        self.update_count = 0
        self.global_step = 0
        self.episodes = EpisodeLog(cfg.log_window)
        self._stop_requested = False

    @classmethod
    def from_config(
        cls,
        cfg: TrainConfig,
        run_dir: Path | str,
        progress: bool = True,
        lm_model: torch.nn.Module | None = None,
        log=print,
        lm_memory=None,
    ) -> Trainer:
        """The envs, their wrappers and the agent ``cfg`` describes (``lm_model``: an LM module to use
        in place of loading ``cfg.history.lm``; ``lm_memory``: n_envs -> the LM memory to step, in place of
        this process's own, as a seed group's members get), built by ``helmrl.build.build``."""
        from ..build import build

        cfg.validate()  # one line naming the first bad field, before anything is built
        if cfg.torch_threads:
            torch.set_num_threads(cfg.torch_threads)
        elif resolve_device(cfg.device).type == "cpu":
            warn_if_oversubscribed()
        envs, agent = build(cfg, training=True, lm_model=lm_model, lm_memory=lm_memory)
        return cls(envs, agent, cfg, run_dir, progress=progress, log=log)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """Everything the learner owns: tensors and plain data only."""
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "config": self.cfg.to_dict(),
            "update": self.update_count,
            "global_step": self.global_step,
            "episodes": self.episodes.count,
            "recent_returns": list(self.episodes.returns),
            "recent_lengths": list(self.episodes.lengths),
            "agent": self.agent.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "reward_scaler": self.reward_scaler.state_dict() if self.reward_scaler else None,
            "rng": rng,
        }

    def load_state_dict(self, state: dict) -> None:
        load_agent_state(self.agent, state, self.run_dir / CHECKPOINT)
        self.optimizer.load_state_dict(state["optimizer"])
        if self.reward_scaler and state["reward_scaler"]:
            self.reward_scaler.load_state_dict(state["reward_scaler"])
        self.update_count, self.global_step = state["update"], state["global_step"]
        self.episodes = EpisodeLog(self.cfg.log_window)
        for ret, length in zip(state["recent_returns"], state["recent_lengths"], strict=True):
            self.episodes.add(ret, length)
        self.episodes.count = state["episodes"]
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)

    def save(self) -> None:
        save_checkpoint(self.state_dict(), self.run_dir / CHECKPOINT)

    def start_episodes(self) -> None:
        """Fresh episodes in every env: from the seed on a new run, from (seed, update) on resume."""
        seed = self.cfg.seed if self.update_count == 0 else _resume_seed(self.cfg.seed, self.update_count)
        self.acting.reset(seed)  # ScaleReward and RecordEpisodeStatistics restart each env's sums

    # ------------------------------------------------------------------ the loop
    def train(self, resume: bool = False) -> TrainResult:
        cfg = self.cfg
        if resume:
            state = load_checkpoint(self.run_dir / CHECKPOINT)
            check_config(state, cfg.to_dict(), self.run_dir / CHECKPOINT, may_differ=RESUMABLE)
            check_schedule_kept(cfg.ppo.anneal_lr, state["config"]["total_steps"], cfg.total_steps)
            self.load_state_dict(state)
            self.log(
                f"resumed at update {self.update_count} (env step {self.global_step}); "
                "every env starts a fresh episode"
            )
        truncate_metrics(self.run_dir / METRICS, self.update_count)
        writer = tensorboard(self.run_dir)
        bar = progress_bar(cfg.total_steps, self.global_step, self.progress)
        start_step, t0 = self.global_step, time.perf_counter()
        handlers = _install_stop_handlers(self)
        try:
            self.start_episodes()
            while self.update_count < cfg.num_updates:
                # ---- rollout: T steps in N envs; the frozen history is computed once per obs.
                rollout = self.collect()
                # ---- update: GAE, then epochs x minibatches; the LM never runs here.
                stats = self.update(rollout)
                # ---- log and checkpoint (neither touches the learner's state).
                fps = (self.global_step - start_step) / (time.perf_counter() - t0)
                row = metrics_row(
                    self.update_count, self.global_step, self.episodes, fps, stats, time.perf_counter() - t0
                )
                append_metrics(self.run_dir / METRICS, row)
                for k in TENSORBOARD_SCALARS:
                    if row[k] != "":
                        writer.add_scalar(f"train/{k}", row[k], self.global_step)
                bar.update(cfg.batch_size)
                bar.set_postfix(ret=row["episode_return_mean"] or "-", fps=f"{fps:.0f}")
                done = self.update_count == cfg.num_updates
                if done or self._stop_requested or self.update_count % cfg.checkpoint_every == 0:
                    self.save()
                if self._stop_requested:
                    break
        except KeyboardInterrupt:  # a second Ctrl-C: stop now, keep the last checkpoint
            self._stop_requested = True
        finally:
            _restore_handlers(handlers)
            bar.close()
            writer.close()
            self.envs.close()
        return TrainResult(self.run_dir, self.global_step, self._stop_requested)

    def collect(self) -> Rollout:
        """One rollout with the current policy (``helmrl.ppo.core.collect``), its ended episodes logged."""
        rollout, ended = collect(self.acting, self.cfg.ppo.rollout_steps, self.cfg.ppo)
        for ret, length in zip(ended.returns, ended.lengths, strict=True):
            self.episodes.add(ret, length)
        self.global_step += rollout.actions.numel()
        return rollout

    def update(self, rollout: Rollout) -> dict[str, float]:
        """The learning rate of this update, then ``helmrl.ppo.core.update``."""
        ppo = self.cfg.ppo
        if ppo.anneal_lr:  # linearly to 0 over the run, as CleanRL: a function of the update count
            for group in self.optimizer.param_groups:
                group["lr"] = ppo.lr * (1.0 - self.update_count / self.cfg.num_updates)
        try:
            stats = update(self.agent, self.optimizer, rollout, ppo, self.n_minibatches)
        except NonFiniteError as err:
            raise NonFiniteError(
                f"{err} at update {self.update_count + 1} (env step {self.global_step}); stopped before "
                "the optimizer step, the last good checkpoint is kept"
            ) from None
        self.update_count += 1
        return stats


def _history_wrapper() -> type:
    from ..wrappers import FrozenHistoryObservation

    return FrozenHistoryObservation


def _check_envs(envs: VectorEnv, agent: Agent, cfg: TrainConfig) -> None:
    """Refuse, in one line each, envs this trainer would silently mistrain on."""
    if envs.num_envs != cfg.n_envs:
        raise ValueError(f"the envs have {envs.num_envs} sub-envs but n_envs is {cfg.n_envs}")
    mode = envs.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    if AutoresetMode(mode) != AutoresetMode.SAME_STEP:
        raise ValueError(
            f"autoreset mode {AutoresetMode(mode).value}: the trainer reads each step's observation as "
            "the next one it acts on; build the vector env with autoreset_mode=AutoresetMode.SAME_STEP "
            "(helmrl.envs.make_vec_env does)"
        )
    space = envs.single_observation_space
    keys = set(space.spaces) if hasattr(space, "spaces") else {"observation"}
    if missing := [k for k in agent.obs_keys if k not in keys]:
        hint = " (wrap the envs in helmrl.wrappers.FrozenHistoryObservation)" if "history" in missing else ""
        raise ValueError(
            f"{agent.name or type(agent).__name__} reads {missing} that the envs do not give{hint}"
        )
    if cfg.ppo.bootstrap_truncated and "history" in agent.obs_keys:
        wrapper = find_wrapper(envs, _history_wrapper())
        if wrapper is not None and not wrapper.final_history:
            raise ValueError(
                "bootstrap_truncated needs the final observations' history: wrap the envs in "
                'FrozenHistoryObservation(..., final_history=True or "truncated")'
            )


def _with_episode_statistics(envs: VectorEnv) -> VectorEnv:
    """``envs`` with gymnasium's RecordEpisodeStatistics beneath any reward scaler (``build`` puts
    it there), so returns are the envs' own; where the chain has none and no ScaleReward, it wraps
    ``envs`` itself. A ScaleReward without one beneath it is refused."""
    from gymnasium.wrappers.vector import RecordEpisodeStatistics

    scaler = find_wrapper(envs, ScaleReward)
    if scaler is None:
        return (
            envs if find_wrapper(envs, RecordEpisodeStatistics) is not None else RecordEpisodeStatistics(envs)
        )
    if find_wrapper(scaler.env, RecordEpisodeStatistics) is None:
        raise ValueError(
            "the envs scale their rewards but record no episode statistics beneath: wrap them in "
            "gymnasium.wrappers.vector.RecordEpisodeStatistics before ScaleReward (helmrl.build.build does)"
        )
    return envs


def _resume_seed(seed: int, update: int) -> int:
    return (seed * 1_000_003 + update * 7_919) % (2**31 - 1)


def _install_stop_handlers(trainer: Trainer) -> dict:
    """First Ctrl-C / SIGTERM: finish this update, save, stop. A second one: stop at once."""

    def handler(signum, frame):
        if trainer._stop_requested:
            raise KeyboardInterrupt
        trainer._stop_requested = True
        trainer.log("\nstopping after this update and saving a checkpoint (Ctrl-C again: stop now)")

    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            old[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread (e.g. a Ray worker thread): no handlers
            pass
    return old


def _restore_handlers(old: dict) -> None:
    for sig, h in old.items():
        signal.signal(sig, h)
