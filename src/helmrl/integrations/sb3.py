"""HELM's memory inside Stable-Baselines3 (``pip install 'helmrl[sb3]'``).

* ``FrozenHistoryVecEnv`` wraps an SB3 ``VecEnv``: observations become a Dict of the original
  observation and ``"history"``; each env's memory is cleared on the step its episode ends (SB3's
  VecEnvs reset on that step), and ``info["terminal_observation"]`` carries the history the episode
  closes with, so SB3's time-limit bootstrap sees the right value input.
* ``HELMExtractor`` is a features extractor for ``MultiInputPolicy``: [history, CNN(image)], the
  input of HELM's actor-critic head; the CNN is the authors' small Impala.
* ``MetricsCallback`` writes helmrl's metrics.csv (``helmrl.ppo.metrics.COLUMNS``) from an SB3
  on-policy run, so ``helmrl plot``, the sweep summaries and the experiments read SB3 runs as
  they read helmrl's.

    venv = VecMonitor(FrozenHistoryVecEnv(make_vec_env(...), HistoryConfig(mem_len=512)))
    model = PPO("MultiInputPolicy", venv, policy_kwargs=dict(features_extractor_class=HELMExtractor))
    model.learn(100_000, callback=MetricsCallback("runs/sb3-helm"))
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from torch import nn

from ..frozen.history_config import HistoryConfig
from ..frozen.history_stage import HistoryStage
from ..models.configs import SmallImpalaKernels
from ..models.encoders import MLPEncoder, SmallImpalaCNN
from ..ppo.metrics import METRICS, STAT_NAMES, EpisodeLog, append_metrics, metrics_row, truncate_metrics
from ..wrappers import HISTORY, HistoryStream


class FrozenHistoryVecEnv(VecEnvWrapper):
    """Adds HELM's frozen history to an SB3 VecEnv's observations (see the module docstring)."""

    def __init__(
        self,
        venv: VecEnv,
        history: HistoryStage | HistoryConfig | None = None,
        device: torch.device | str = "cpu",
    ):
        self.stream = HistoryStream(venv.observation_space, venv.num_envs, history, device)
        super().__init__(venv, observation_space=self.stream.observation_space(venv.observation_space))

    @property
    def frozen_history(self) -> HistoryStage:
        return self.stream.stage

    def reset(self) -> dict[str, np.ndarray]:
        obs = self.venv.reset()
        self.stream.reset()
        return self.stream.join(obs, self.stream.step(obs, np.ones(self.num_envs, dtype=bool)))

    def step_wait(self) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, rewards, dones, infos = self.venv.step_wait()
        dones = np.asarray(dones, dtype=bool)
        ended = {
            int(i): infos[i]["terminal_observation"]
            for i in np.flatnonzero(dones)
            if "terminal_observation" in infos[i]
        }
        if ended:  # the terminal observations' histories, before the memory moves on
            for i, terminal in self.stream.terminal(ended, others=obs).items():
                infos[i]["terminal_observation"] = terminal
        return self.stream.join(obs, self.stream.step(obs, dones)), rewards, dones, infos


class SmallCNNExtractor(BaseFeaturesExtractor):
    """The authors' small Impala CNN as an SB3 features extractor, for images too small for SB3's
    NatureCNN (RandomMaze's 9×9): channel scale 4 and 1024 features is their CNN-PPO's encoder,
    1 and 256 their Impala-PPO's. Observations arrive channel-first (SB3's VecTransposeImage) and
    scaled to [0, 1] by SB3."""

    def __init__(
        self,
        observation_space: gym.spaces.Box,
        features: int = 1024,
        channel_scale: int = 4,
        kernels: SmallImpalaKernels = "authors",
    ):
        if len(observation_space.shape) != 3:
            raise ValueError(f"SmallCNNExtractor needs (C, H, W) images, got shape {observation_space.shape}")
        c, h, w = observation_space.shape
        encoder = SmallImpalaCNN((h, w, c), channel_scale, features, kernels)
        super().__init__(observation_space, encoder.out_dim)
        self.encoder = encoder

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.encoder.fc(self.encoder.convs(observations))


class HELMExtractor(BaseFeaturesExtractor):
    """[history, encoder(observation)]: HELM's head input. Images (channel-first after SB3's
    VecTransposeImage, scaled to [0, 1] by SB3) go through the authors' small Impala CNN (channel
    scale 4, 1024 features), vectors through a two-layer MLP."""

    def __init__(
        self,
        observation_space: gym.spaces.Dict,
        features: int = 1024,
        channel_scale: int = 4,
        kernels: SmallImpalaKernels = "authors",
    ):
        keys = [k for k in observation_space.spaces if k != HISTORY]
        if HISTORY not in observation_space.spaces or len(keys) != 1:
            raise ValueError(
                "HELMExtractor needs a Dict of 'history' and one observation, got keys "
                f"{list(observation_space.spaces)}"
            )
        self.key = keys[0]
        space = observation_space.spaces[self.key]
        history_dim = observation_space.spaces[HISTORY].shape[0]
        if len(space.shape) == 3:
            c, h, w = space.shape
            encoder: nn.Module = SmallImpalaCNN((h, w, c), channel_scale, features, kernels)
            self._image = True
        else:
            encoder = MLPEncoder(int(np.prod(space.shape)), features)
            self._image = False
        super().__init__(observation_space, history_dim + encoder.out_dim)
        self.encoder = encoder

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        x = observations[self.key]
        current = self.encoder.fc(self.encoder.convs(x)) if self._image else self.encoder(x)
        return torch.cat([observations[HISTORY], current], dim=1)


#: helmrl's update statistics (``STAT_NAMES``) from SB3's logger keys: (key, sign). The same
#: quantities: minibatch means of the clipped surrogate, the value MSE, the policy entropy (SB3
#: logs its negative as ``entropy_loss``), the (r - 1) - log r KL estimate and the clip fraction.
SB3_STATS: dict[str, tuple[str, float]] = {
    "policy_loss": ("train/policy_gradient_loss", 1.0),
    "value_loss": ("train/value_loss", 1.0),
    "entropy": ("train/entropy_loss", -1.0),
    "approx_kl": ("train/approx_kl", 1.0),
    "clipfrac": ("train/clip_fraction", 1.0),
}


class MetricsCallback(BaseCallback):
    """helmrl's ``run_dir/metrics.csv`` for an SB3 on-policy algorithm (PPO, sb3-contrib's
    RecurrentPPO, ...): one row per update, in ``helmrl.ppo.metrics.COLUMNS``, as helmrl's trainer
    writes it.

    Per update (a rollout and the ``train()`` after it): ``update`` = env steps / (n_steps ×
    n_envs), ``step`` = env steps so far, the mean return and length of the last ``window``
    episodes (``info["episode"]``: wrap the VecEnv in ``VecMonitor`` *inside* any
    ``VecNormalize``, so returns are raw; empty until an episode has finished), ``episodes`` so
    far, env-steps/s and ``time_s`` since this callback's first ``learn()``, and the update's
    statistics from SB3's logger (``SB3_STATS``; empty where the algorithm logs none).

    Pass the same callback to every ``learn(..., reset_num_timesteps=False)`` call of a run. On a
    resumed run (a saved model loaded in a new process) the rows after the model's update are
    dropped, the episode count continues from the last row, and the return window starts empty.
    """

    def __init__(self, run_dir: Path | str, window: int = 100, verbose: int = 0):
        super().__init__(verbose)
        if window < 1:
            raise ValueError(f"window must be a positive number of episodes, got {window}")
        self.path = Path(run_dir) / METRICS
        self.episodes = EpisodeLog(window)
        self._t0: float | None = None
        self._s0 = 0
        self._pending = False  # a rollout has ended; its row waits for the update's statistics

    def _update_index(self) -> int:
        return self.model.num_timesteps // (self.model.n_steps * self.model.n_envs)

    def _on_training_start(self) -> None:
        if self._t0 is not None:  # a later learn() of the same run
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        truncate_metrics(self.path, self._update_index())
        if self.path.exists():
            with open(self.path, newline="") as fh:
                rows = list(csv.DictReader(fh))
            if rows and rows[-1].get("episodes"):
                self.episodes.count = int(rows[-1]["episodes"])
        self._t0, self._s0 = time.perf_counter(), self.model.num_timesteps

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode" in info:
                self.episodes.add(info["episode"]["r"], info["episode"]["l"])
        return True

    def _on_rollout_end(self) -> None:
        self._pending = True

    def _on_rollout_start(self) -> None:  # after the previous rollout's train()
        self._write_row()

    def _on_training_end(self) -> None:  # after the last train() of this learn()
        self._write_row()

    def _write_row(self) -> None:
        if not self._pending:
            return
        self._pending = False
        elapsed = time.perf_counter() - self._t0
        logged = self.model.logger.name_to_value  # a defaultdict: read with .get, never [key]
        stats = {}
        for name in STAT_NAMES:  # a statistic SB3_STATS does not map stays empty
            key, sign = SB3_STATS.get(name, ("", 1.0))
            value = logged.get(key)
            stats[name] = "" if value is None else sign * float(value)
        fps = (self.model.num_timesteps - self._s0) / max(elapsed, 1e-9)
        row = metrics_row(self._update_index(), self.model.num_timesteps, self.episodes, fps, stats, elapsed)
        append_metrics(self.path, row)  # writes COLUMNS, in order; a key outside them raises


def ppo_settings(cfg) -> dict:  # a helmrl.config.TrainConfig
    """SB3 PPO / RecurrentPPO keyword arguments for a TrainConfig's PPO settings (the learning
    rate, its schedule and the policy are the caller's)."""
    ppo = cfg.ppo
    return dict(
        n_steps=ppo.rollout_steps,
        batch_size=cfg.batch_size // ppo.n_minibatches,
        n_epochs=ppo.epochs,
        gamma=ppo.gamma,
        gae_lambda=ppo.gae_lambda,
        clip_range=ppo.clip_coef,
        ent_coef=ppo.ent_coef,
        vf_coef=ppo.vf_coef,
        max_grad_norm=ppo.max_grad_norm,
    )
