"""One PPO trainer for every agent. Reads top to bottom: rollout, advantages, update, log.

Consistent points: every ``checkpoint_every`` updates (and at the start) all envs are reset
with a seed derived from (seed, update), the agent's memory is cleared and torch's RNG is
reseeded. Runs are therefore determined by their config alone, and a run resumed from a
checkpoint continues exactly as the uninterrupted run does. Episodes cut at these points
count as truncated and are not logged.
"""

from __future__ import annotations

import csv
import math
import signal
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.distributions import Categorical

from ..config import TrainConfig
from ..envs import RewardScaler, default_reward_norm, make_vec_env
from ..models import Agent, build_agent
from .checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint

METRICS = "metrics.csv"
CONFIG = "config.json"
COLUMNS = [
    "update",
    "step",
    "episode_return_mean",
    "episode_length_mean",
    "episodes",
    "fps",
    "policy_loss",
    "value_loss",
    "entropy",
    "approx_kl",
    "clipfrac",
    "time_s",
]


class NonFiniteError(RuntimeError):
    """A loss or gradient became NaN/inf; the last good checkpoint is kept."""


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


def _sync_seed(seed: int, update: int) -> int:
    return (seed * 1_000_003 + update * 7_919) % (2**31 - 1)


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    starts: torch.Tensor,
    next_value: torch.Tensor,
    next_start: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE(λ) over (T, N) tensors; ``starts[t]`` = obs t opened an episode (so t-1 ended one)."""
    T = rewards.shape[0]
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(next_value)
    for t in reversed(range(T)):
        nonterminal = 1.0 - (next_start if t == T - 1 else starts[t + 1]).float()
        v_next = next_value if t == T - 1 else values[t + 1]
        delta = rewards[t] + gamma * v_next * nonterminal - values[t]
        last = delta + gamma * lam * nonterminal * last
        adv[t] = last
    return adv, adv + values


def ppo_loss(agent: Agent, cfg: TrainConfig, mb: dict[str, torch.Tensor], context: dict) -> tuple:
    """Clipped PPO loss on one minibatch of (T, n) tensors; returns (loss, stats)."""
    logits, value = agent.evaluate(mb["obs"], mb["extras"], mb["starts"], context)
    dist = Categorical(logits=logits)
    logratio = dist.log_prob(mb["actions"]) - mb["logprobs"]
    ratio = logratio.exp()
    adv = mb["advantages"]
    if cfg.norm_adv and adv.numel() > 1:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    pg_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - cfg.clip_coef, 1 + cfg.clip_coef)).mean()
    v_loss = 0.5 * (value - mb["returns"]).pow(2).mean()  # no value clipping (authors' choice)
    entropy = dist.entropy().mean()
    loss = pg_loss - cfg.ent_coef * entropy + cfg.vf_coef * v_loss
    with torch.no_grad():
        stats = {
            "policy_loss": pg_loss.item(),
            "value_loss": v_loss.item(),
            "entropy": entropy.item(),
            "approx_kl": ((ratio - 1) - logratio).mean().item(),
            "clipfrac": ((ratio - 1).abs() > cfg.clip_coef).float().mean().item(),
        }
    return loss, stats, {"pg": pg_loss, "value": v_loss, "entropy": entropy}


class Trainer:
    """Owns the envs, agent, optimizer and buffers of one run."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, agent: Agent | None = None, progress: bool = True):
        self.cfg, self.run_dir, self.progress = cfg, Path(run_dir), progress
        if cfg.torch_threads:
            torch.set_num_threads(cfg.torch_threads)
        torch.manual_seed(cfg.seed)
        self.envs = make_vec_env(cfg.env_id, cfg.n_envs)
        self.obs_shape = self.envs.single_observation_space.shape
        self.n_actions = int(self.envs.single_action_space.n)
        self.agent = agent or build_agent(cfg, self.obs_shape, self.n_actions)
        self.optimizer = torch.optim.AdamW(
            self.agent.parameters(), lr=cfg.lr, eps=1e-8, weight_decay=cfg.weight_decay
        )
        use_norm = default_reward_norm(cfg.env_id) if cfg.reward_norm == "auto" else cfg.reward_norm == "on"
        self.reward_scaler = RewardScaler(cfg.n_envs, cfg.gamma) if use_norm else None
        self.update = 0
        self.global_step = 0
        self.episodes = 0
        self.recent_returns: deque[float] = deque(maxlen=cfg.log_window)
        self.recent_lengths: deque[int] = deque(maxlen=cfg.log_window)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        return {
            "config": self.cfg.to_dict(),
            "update": self.update,
            "global_step": self.global_step,
            "episodes": self.episodes,
            "recent_returns": list(self.recent_returns),
            "recent_lengths": list(self.recent_lengths),
            "agent": self.agent.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "reward_scaler": self.reward_scaler.state_dict() if self.reward_scaler else None,
        }

    def load_state_dict(self, state: dict) -> None:
        self.agent.load_state_dict(state["agent"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.reward_scaler and state["reward_scaler"]:
            self.reward_scaler.load_state_dict(state["reward_scaler"])
        self.update, self.global_step = state["update"], state["global_step"]
        self.episodes = state["episodes"]
        self.recent_returns.extend(state["recent_returns"])
        self.recent_lengths.extend(state["recent_lengths"])

    def _counters(self) -> tuple:
        return (
            self.update,
            self.global_step,
            self.episodes,
            list(self.recent_returns),
            list(self.recent_lengths),
        )

    def _restore_counters(self, counters: tuple) -> None:
        self.update, self.global_step, self.episodes, returns, lengths = counters
        self.recent_returns.clear()
        self.recent_returns.extend(returns)
        self.recent_lengths.clear()
        self.recent_lengths.extend(lengths)

    def save(self) -> None:
        save_checkpoint(self.state_dict(), self.run_dir / CHECKPOINT)

    # ------------------------------------------------------------------ consistent points
    def _sync(self) -> None:
        """Reset envs, memory and RNG from (seed, update): a point any run can restart from."""
        s = _sync_seed(self.cfg.seed, self.update)
        self.agent.reset_memory(self.cfg.n_envs)  # first: building a memory may draw numbers
        torch.manual_seed(s)
        obs, _ = self.envs.reset(seed=s)
        self.next_obs = torch.as_tensor(obs)
        self.next_start = torch.ones(self.cfg.n_envs, dtype=torch.bool)
        self.ep_return = np.zeros(self.cfg.n_envs)
        self.ep_length = np.zeros(self.cfg.n_envs, dtype=np.int64)
        if self.reward_scaler:
            self.reward_scaler.returns[:] = 0.0

    # ------------------------------------------------------------------ the loop
    def train(self, resume: bool = False) -> TrainResult:
        cfg, N, T = self.cfg, self.cfg.n_envs, self.cfg.rollout_steps
        if resume:
            self.load_state_dict(load_checkpoint(self.run_dir / CHECKPOINT))
        _truncate_metrics(self.run_dir / METRICS, self.update)
        writer = _tensorboard(self.run_dir)
        start_step, t0 = self.global_step, time.perf_counter()
        bar = _progress(cfg.total_steps, self.global_step, self.progress)
        interrupted = False
        old_handler = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        self._boundary = self._counters()
        try:
            self._sync()
            while self.update < cfg.num_updates:
                # ---- rollout: T steps in N envs; the frozen history is computed once here.
                data, context = self.collect_rollout()

                # ---- advantages (GAE) with the bootstrap value of the next observation.
                with torch.no_grad():
                    next_value = self.agent.peek_value(self.next_obs, self.next_start)
                data["advantages"], data["returns"] = compute_gae(
                    data["rewards"],
                    data["values"],
                    data["starts"],
                    next_value,
                    self.next_start,
                    cfg.gamma,
                    cfg.gae_lambda,
                )

                # ---- update: epochs × minibatches; the LM never runs here.
                stats = self._update(data, context)

                # ---- log, checkpoint, and the next consistent point.
                self.update += 1
                fps = (self.global_step - start_step) / (time.perf_counter() - t0)
                row = self._log_row(stats, fps, time.perf_counter() - t0)
                _append_metrics(self.run_dir / METRICS, row)
                for k in COLUMNS[2:-1]:
                    if row[k] != "" and k != "episodes":
                        writer.add_scalar(f"train/{k}", row[k], self.global_step)
                bar.update(T * N)
                bar.set_postfix(ret=row["episode_return_mean"] or "-", fps=f"{fps:.0f}")
                if self.update % cfg.checkpoint_every == 0 or self.update == cfg.num_updates:
                    self.save()
                    if self.update < cfg.num_updates:
                        self._sync()
                self._boundary = self._counters()
        except KeyboardInterrupt:
            interrupted = True
            self._restore_counters(self._boundary)  # drop the half-finished rollout's counts
            self.save()
        finally:
            signal.signal(signal.SIGTERM, old_handler)
            bar.close()
            writer.close()
            self.envs.close()
        return TrainResult(self.run_dir, self.global_step, interrupted)

    def collect_rollout(self) -> tuple[dict, dict]:
        """T steps in every env with the current policy -> (buffers of (T, N, ...), memory context)."""
        T, N = self.cfg.rollout_steps, self.cfg.n_envs
        obs_buf = torch.zeros((T, N, *self.obs_shape), dtype=self.next_obs.dtype)
        actions = torch.zeros((T, N), dtype=torch.long)
        logprobs, rewards, values = torch.zeros(T, N), torch.zeros(T, N), torch.zeros(T, N)
        starts = torch.zeros((T, N), dtype=torch.bool)
        extras: dict[str, torch.Tensor] = {}
        context = self.agent.memory_context()  # recurrent agents replay from here
        for t in range(T):
            obs_buf[t], starts[t] = self.next_obs, self.next_start
            with torch.no_grad():
                logits, value, step_extras = self.agent.act(self.next_obs, self.next_start)
                dist = Categorical(logits=logits)
                action = dist.sample()
            for k, v in step_extras.items():
                if k not in extras:  # allocated once per rollout, on the first step
                    extras[k] = torch.zeros((T, *v.shape), dtype=v.dtype)
                extras[k][t] = v
            actions[t], logprobs[t], values[t] = action, dist.log_prob(action), value
            obs, reward, term, trunc, _ = self.envs.step(action.numpy())
            done = term | trunc  # truncation counts as an end (no bootstrap), as in CleanRL
            self._track_episodes(reward, done)
            if self.reward_scaler:
                reward = self.reward_scaler(reward, done)
            rewards[t] = torch.as_tensor(reward, dtype=torch.float32)
            self.next_obs, self.next_start = torch.as_tensor(obs), torch.as_tensor(done)
        self.global_step += T * N
        data = {
            "obs": obs_buf,
            "actions": actions,
            "logprobs": logprobs,
            "values": values,
            "rewards": rewards,
            "starts": starts,
            "extras": extras,
        }
        return data, context

    def _track_episodes(self, reward: np.ndarray, done: np.ndarray) -> None:
        self.ep_return += reward
        self.ep_length += 1
        for i in np.flatnonzero(done):
            self.recent_returns.append(float(self.ep_return[i]))
            self.recent_lengths.append(int(self.ep_length[i]))
            self.episodes += 1
        self.ep_return[done] = 0.0
        self.ep_length[done] = 0

    def _minibatches(self, T: int, N: int):  # noqa: ANN202 - yields (time idx, env idx) pairs
        """Recurrent agents: groups of whole env-trajectories. Others: random samples."""
        nmb = self.cfg.n_minibatches
        if self.agent.recurrent:
            perm = torch.randperm(N)
            for chunk in perm.chunk(nmb):
                yield slice(None), chunk
        else:
            perm = torch.randperm(T * N)
            for chunk in perm.chunk(nmb):
                yield chunk // N, chunk % N

    def _update(self, data: dict, context: dict) -> dict[str, float]:
        cfg = self.cfg
        T, N = data["actions"].shape
        totals: dict[str, list[float]] = {}
        for _ in range(cfg.epochs):
            for t_idx, e_idx in self._minibatches(T, N):
                mb = _select(data, t_idx, e_idx)
                ctx = {k: v[e_idx] for k, v in context.items()}
                loss, stats, terms = ppo_loss(self.agent, cfg, mb, ctx)
                _check_finite(terms | {"loss": loss}, self.update, self.global_step)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(self.agent.parameters(), cfg.max_grad_norm)
                _check_finite({"gradient norm": grad_norm}, self.update, self.global_step)
                self.optimizer.step()
                for k, v in stats.items():
                    totals.setdefault(k, []).append(v)
        return {k: float(np.mean(v)) for k, v in totals.items()}

    def _log_row(self, stats: dict[str, float], fps: float, elapsed: float) -> dict:
        have = len(self.recent_returns) > 0  # never pad with zeros before episodes finish
        return {
            "update": self.update,
            "step": self.global_step,
            "episode_return_mean": round(float(np.mean(self.recent_returns)), 6) if have else "",
            "episode_length_mean": round(float(np.mean(self.recent_lengths)), 3) if have else "",
            "episodes": self.episodes,
            "fps": round(fps, 2),
            **{k: round(v, 6) for k, v in stats.items()},
            "time_s": round(elapsed, 2),
        }


def _select(data: dict, t_idx, e_idx) -> dict:  # noqa: ANN001
    """Minibatch as (T', n) tensors: whole sequences (t_idx = slice) or single samples (T' = 1)."""

    def pick(x: torch.Tensor) -> torch.Tensor:
        if isinstance(t_idx, slice):
            return x[:, e_idx]
        return x[t_idx, e_idx][None]

    out = {k: pick(v) for k, v in data.items() if k != "extras"}
    out["extras"] = {k: pick(v) for k, v in data["extras"].items()}
    return out


def _check_finite(terms: dict[str, torch.Tensor], update: int, step: int) -> None:
    for name, value in terms.items():
        if not torch.isfinite(value).all():
            raise NonFiniteError(
                f"non-finite {name} at update {update + 1} (env step {step}); stopped before the "
                "optimizer step, the last good checkpoint is kept"
            )


def _raise_keyboard_interrupt(signum, frame):  # noqa: ANN001, ANN202 - signal handler
    raise KeyboardInterrupt


def _append_metrics(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        if new:
            w.writeheader()
        w.writerow(row)


def _truncate_metrics(path: Path, update: int) -> None:
    """On resume, drop rows logged after the checkpoint (they will be produced again)."""
    if not path.exists():
        return
    with open(path, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if int(r["update"]) <= update]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)


def _tensorboard(run_dir: Path):  # noqa: ANN202
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(run_dir / "tb"))


def _progress(total: int, initial: int, enabled: bool):  # noqa: ANN202
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="step", disable=not enabled, dynamic_ncols=True)


def read_metrics(run_dir: Path) -> list[dict[str, float]]:
    """metrics.csv as a list of rows with numbers (NaN where no episode had finished yet)."""
    with open(Path(run_dir) / METRICS, newline="") as fh:
        return [{k: float(v) if v != "" else math.nan for k, v in r.items()} for r in csv.DictReader(fh)]
