"""One PPO trainer for every agent. ``train()`` reads top to bottom: collect, advantages,
update, log, checkpoint.

``Trainer(envs, agent, cfg, run_dir)`` trains any agent on any gymnasium vector env with
same-step autoreset; ``Trainer.from_config(cfg, run_dir)`` builds both from a run's config with
``helmrl.build.build``, as evaluation, videos and analyses do.

All changing state is created in ``__init__``: the acting loop (next observation, episode starts,
the agent's recurrent state), the optimizer, the RNG and the counters; the envs' wrappers hold
the frozen history and the reward statistics. Checkpoints never touch it, so ``checkpoint_every``
cannot change what is learned. A checkpoint holds everything the learner owns (parameters,
optimizer, reward-scaler statistics, RNG states, counters); a resumed run restores that
exactly and, like Stable-Baselines3, starts fresh episodes once.
"""

from __future__ import annotations

import signal
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv

from ..config import RESUMABLE, TrainConfig
from ..devices import resolve_device, warn_if_oversubscribed
from ..envs import ScaleReward, find_wrapper
from ..errors import NonFiniteError
from ..models import Agent
from .acting import ActingLoop
from .checkpoint import CHECKPOINT, check_config, load_checkpoint, save_checkpoint
from .loss import ppo_loss
from .metrics import (
    METRICS,
    STAT_NAMES,
    TENSORBOARD_SCALARS,
    append_metrics,
    progress_bar,
    tensorboard,
    truncate_metrics,
)
from .rollout import (
    Rollout,
    compute_gae,
    episode_segments,
    minibatch_indices,
    segment_minibatches,
    select,
    select_segments,
)


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
        self.envs = envs
        self.obs_shape = envs.single_observation_space.shape
        self.agent = agent.to(self.device)
        self.history = getattr(find_wrapper(envs, _history_wrapper()), "frozen_history", None)
        # fused: one kernel over all parameters; the per-tensor loop was ~20% of a CPU update
        self.optimizer = torch.optim.AdamW(
            self.agent.parameters(), lr=cfg.ppo.lr, eps=1e-8, weight_decay=cfg.ppo.weight_decay, fused=True
        )
        self.reward_scaler: ScaleReward | None = find_wrapper(envs, ScaleReward)
        self.acting = ActingLoop(envs, self.agent, device=self.device)
        self.n_minibatches = cfg.ppo.n_minibatches
        if agent.recurrent and cfg.ppo.n_minibatches > cfg.n_envs:
            self.n_minibatches = cfg.n_envs
            log(
                f"note: {cfg.agent} splits minibatches by env, so n_minibatches {cfg.ppo.n_minibatches} -> "
                f"{cfg.n_envs} (one per env), as sb3-contrib's RecurrentPPO adapts its batches"
            )
        if cfg.ppo.segments_per_minibatch and not agent.recurrent:
            log(f"note: segments_per_minibatch applies to recurrent agents; {cfg.agent} ignores it")
        # counters and episode statistics
        self.update_count = 0
        self.global_step = 0
        self.episodes = 0
        self.recent_returns: deque[float] = deque(maxlen=cfg.log_window)
        self.recent_lengths: deque[int] = deque(maxlen=cfg.log_window)
        self.ep_return = np.zeros(cfg.n_envs)
        self.ep_length = np.zeros(cfg.n_envs, dtype=np.int64)
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
            "episodes": self.episodes,
            "recent_returns": list(self.recent_returns),
            "recent_lengths": list(self.recent_lengths),
            "agent": self.agent.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "reward_scaler": self.reward_scaler.state_dict() if self.reward_scaler else None,
            "rng": rng,
        }

    def load_state_dict(self, state: dict) -> None:
        self.agent.load_state_dict(state["agent"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.reward_scaler and state["reward_scaler"]:
            self.reward_scaler.load_state_dict(state["reward_scaler"])
        self.update_count, self.global_step = state["update"], state["global_step"]
        self.episodes = state["episodes"]
        self.recent_returns.clear()
        self.recent_returns.extend(state["recent_returns"])
        self.recent_lengths.clear()
        self.recent_lengths.extend(state["recent_lengths"])
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)

    def save(self) -> None:
        save_checkpoint(self.state_dict(), self.run_dir / CHECKPOINT)

    def start_episodes(self) -> None:
        """Fresh episodes in every env: from the seed on a new run, from (seed, update) on resume."""
        seed = self.cfg.seed if self.update_count == 0 else _resume_seed(self.cfg.seed, self.update_count)
        self.acting.reset(seed)  # ScaleReward restarts each env's running return on reset
        self.ep_return[:] = 0.0
        self.ep_length[:] = 0

    # ------------------------------------------------------------------ the loop
    def train(self, resume: bool = False) -> TrainResult:
        cfg = self.cfg
        if resume:
            state = load_checkpoint(self.run_dir / CHECKPOINT)
            check_config(state, cfg.to_dict(), self.run_dir / CHECKPOINT, may_differ=RESUMABLE)
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
                row = self._log_row(stats, fps, time.perf_counter() - t0)
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
        """T steps in every env with the current policy (no gradients)."""
        ppo, N, dev = self.cfg.ppo, self.cfg.n_envs, self.device
        T = ppo.rollout_steps
        loop = self.acting
        initial_state = {k: v.clone() for k, v in loop.agent_state.items()}
        keys = self.agent.obs_keys
        obs = {
            k: torch.zeros((T, *loop.next_obs[k].shape), dtype=loop.next_obs[k].dtype, device=dev)
            for k in keys
        }
        starts = torch.zeros((T, N), dtype=torch.bool, device=dev)
        actions = torch.zeros((T, N), dtype=torch.long, device=dev)
        logprobs, values = torch.zeros((T, N), device=dev), torch.zeros((T, N), device=dev)
        rewards = np.zeros((T, N), dtype=np.float32)
        for t in range(T):
            s = loop.step()
            for k in keys:
                obs[k][t] = s.obs[k]
            starts[t], actions[t], logprobs[t], values[t] = s.start, s.action, s.logprob, s.value
            raw = self.reward_scaler.original_reward if self.reward_scaler else s.reward
            self._track_episodes(raw, s.done)
            rewards[t] = s.reward  # scaled where ScaleReward wraps the envs
            if ppo.bootstrap_truncated and s.truncated is not None and s.truncated.any():
                ended = np.flatnonzero(s.truncated)  # as SB3: r += γ·V(final obs), in the scaled units
                rewards[t, ended] += ppo.gamma * loop.final_value(s, ended).float().cpu().numpy()
        self.global_step += T * N
        return Rollout(
            obs, starts, actions, logprobs, values, torch.as_tensor(rewards).to(dev), initial_state
        )

    def update(self, rollout: Rollout) -> dict[str, float]:
        """GAE with the bootstrap value of the next observation, then epochs x minibatches."""
        ppo = self.cfg.ppo
        if ppo.anneal_lr:  # linearly to 0 over the run, as CleanRL: a function of the update count
            for group in self.optimizer.param_groups:
                group["lr"] = ppo.lr * (1.0 - self.update_count / self.cfg.num_updates)
        rollout.advantages, rollout.returns = compute_gae(
            rollout.rewards,
            rollout.values,
            rollout.starts,
            self.acting.next_value(),
            self.acting.next_start,
            ppo.gamma,
            ppo.gae_lambda,
        )
        totals = []
        segmented = self.agent.recurrent and ppo.segments_per_minibatch > 0
        segments = episode_segments(rollout.starts) if segmented else None  # once per update
        for _ in range(ppo.epochs):
            for mb in self._minibatches(rollout, segments):
                loss, stats, terms = ppo_loss(
                    self.agent,
                    mb,
                    clip_coef=ppo.clip_coef,
                    ent_coef=ppo.ent_coef,
                    vf_coef=ppo.vf_coef,
                    norm_adv=ppo.norm_adv,
                )
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(self.agent.parameters(), ppo.max_grad_norm)
                # one host sync per minibatch, before the step (a non-finite loss's gradient is dropped)
                checked = terms | {"loss": loss, "gradient norm": grad_norm}
                _check_finite(checked, self.update_count, self.global_step)
                self.optimizer.step()
                totals.append(stats["stats"])
        self.update_count += 1
        means = torch.stack(totals).mean(0).tolist()  # one device sync per update
        return dict(zip(STAT_NAMES, means, strict=True))

    def _minibatches(self, rollout: Rollout, segments: list[tuple[int, int, int]] | None = None):
        """One epoch's minibatches: groups of ``segments`` (the rollout's episode segments) where
        given, else whole env rollouts (recurrent agents) or random single samples."""
        if segments is not None:
            for group in segment_minibatches(segments, self.cfg.ppo.segments_per_minibatch):
                yield select_segments(rollout, group)
            return
        T, N = rollout.actions.shape
        for t_idx, e_idx in minibatch_indices(T, N, self.n_minibatches, self.agent.recurrent):
            yield select(rollout, t_idx, e_idx)

    def _track_episodes(self, reward: np.ndarray, done: np.ndarray) -> None:
        self.ep_return += reward
        self.ep_length += 1
        for i in np.flatnonzero(done):
            self.recent_returns.append(float(self.ep_return[i]))
            self.recent_lengths.append(int(self.ep_length[i]))
            self.episodes += 1
        self.ep_return[done] = 0.0
        self.ep_length[done] = 0

    def _log_row(self, stats: dict[str, float], fps: float, elapsed: float) -> dict:
        have = len(self.recent_returns) > 0  # never pad with zeros before episodes finish
        return {
            "update": self.update_count,
            "step": self.global_step,
            "episode_return_mean": round(float(np.mean(self.recent_returns)), 6) if have else "",
            "episode_length_mean": round(float(np.mean(self.recent_lengths)), 3) if have else "",
            "episodes": self.episodes,
            "fps": round(fps, 2),
            **{k: round(v, 6) for k, v in stats.items()},
            "time_s": round(elapsed, 2),
        }


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
                "FrozenHistoryObservation(..., final_history=True)"
            )


def _resume_seed(seed: int, update: int) -> int:
    return (seed * 1_000_003 + update * 7_919) % (2**31 - 1)


def _check_finite(terms: dict[str, torch.Tensor], update: int, step: int) -> None:
    """One device sync for all terms; the names are looked up only when one is not finite."""
    values = torch.cat([v.detach().float().reshape(-1) for v in terms.values()])
    if bool(torch.isfinite(values).all()):
        return
    bad = [name for name, value in terms.items() if not bool(torch.isfinite(value).all())]
    if bad:
        raise NonFiniteError(
            f"non-finite {bad[0]} at update {update + 1} (env step {step}); stopped before the "
            "optimizer step, the last good checkpoint is kept"
        )


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
