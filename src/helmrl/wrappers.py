"""HELM's memory as an environment wrapper, for any RL library.

The frozen history h_t = PLT(x_1 .. x_t), x_i = Eᵀ softmax(β · sim(E, P o_i)), depends on the
observation stream alone: nothing in it trains. So it can be computed outside the learner, once
per step, batched over the sub-envs, and handed to any trainer as part of the observation:

    envs = FrozenHistoryObservation(gymnasium.make_vec("MiniGrid-KeyCorridorS3R1-v0", 16, ...))
    obs, info = envs.reset(seed=0)      # {"observation": (16, 56, 56, 3) uint8, "history": (16, 576)}

The policy then reads [history, CNN(observation)] exactly as HELM's head does. Each sub-env's
memory is cleared on the step its episode starts, following the vector env's autoreset mode
(gymnasium's NEXT_STEP and SAME_STEP; Stable-Baselines3's VecEnv, which resets on the same step,
is in ``helmrl.integrations.sb3``).
"""

from __future__ import annotations

from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper
from torch import nn

from .errors import ObservationLayoutError
from .frozen.history_config import HistoryConfig
from .frozen.history_stage import HistoryStage, build_history_stage
from .observation_keys import HISTORY, HISTORY_VALID, HISTORY_WINDOW, OBSERVATION


def image_key(space: gym.Space) -> str | None:
    """Where the observation FrozenHopfield reads is: None for a plain Box, the image's key for a
    Dict. Refuses channel-first images and Dicts without an image, in one line each."""
    if isinstance(space, gym.spaces.Box):
        _check_box(space, "observation")
        return None
    if isinstance(space, gym.spaces.Dict):
        images = [k for k, s in space.spaces.items() if isinstance(s, gym.spaces.Box) and len(s.shape) == 3]
        if not images:
            raise ObservationLayoutError(
                f"a Dict observation without an image (keys: {', '.join(space.spaces)}); the history stage "
                "reads an (H, W, C) image or a flat vector: pass a Box observation or add an image key"
            )
        if HISTORY in space.spaces:
            raise ObservationLayoutError(f"the observation already has a {HISTORY!r} key; wrap the env once")
        _check_box(space.spaces[images[0]], images[0])
        return images[0]
    raise ObservationLayoutError(
        f"observation space {type(space).__name__} is not supported; give a Box (image or vector) or a "
        "Dict holding an image"
    )


def _check_box(space: gym.spaces.Box, name: str) -> None:
    shape = space.shape
    if len(shape) == 3 and shape[0] in (1, 3, 4) and shape[-1] not in (1, 3, 4):
        raise ObservationLayoutError(
            f"{name} has shape {shape}, channel-first (CHW); FrozenHopfield averages the colour axis "
            "of (H, W, C) images: wrap the env before any channel-first transpose (e.g. SB3's "
            "VecTransposeImage, which SB3's algorithms apply themselves)"
        )
    if len(shape) not in (1, 3):
        raise ObservationLayoutError(
            f"{name} has shape {shape}; expected an (H, W, C) image or a flat vector"
        )


def history_space(width: int) -> gym.spaces.Box:
    return gym.spaces.Box(-np.inf, np.inf, shape=(width,), dtype=np.float32)


class HistoryStream:
    """The frozen history stage over a stream of batched observations: one LM step per call.

    Shared by the gymnasium wrapper and the SB3 adapter. ``history`` is a built stage (a
    ``HistoryStage``, HELM's, HELMv2's or SHELM's) or a ``HistoryConfig`` to build
    one from (the LM is loaded then; ``input_map`` chooses what it reads)."""

    def __init__(
        self,
        space: gym.Space,
        n_envs: int,
        history: HistoryStage | HistoryConfig | None = None,
        device: torch.device | str = "cpu",
    ):
        self.key = image_key(space)
        self.inner_space = space.spaces[self.key] if self.key is not None else space
        if isinstance(history, nn.Module):
            self.stage = history.to(device)
        else:
            self.stage = build_history_stage(history or HistoryConfig(), self.inner_space.shape, device)
        self.n_envs = n_envs
        self.width = self.stage.out_dim

    def observation_space(self, space: gym.Space) -> gym.spaces.Dict:
        parts = dict(space.spaces) if self.key is not None else {OBSERVATION: space}
        return gym.spaces.Dict({**parts, HISTORY: history_space(self.width)})

    def _raw(self, obs: Any) -> torch.Tensor:
        return torch.as_tensor(np.asarray(obs[self.key] if self.key is not None else obs))

    def reset(self) -> None:
        self.stage.reset(self.n_envs)

    def step(self, obs: Any, starts: np.ndarray, as_tensor: bool = False) -> np.ndarray | torch.Tensor:
        """The history of ``obs`` (n_envs, ...); ``starts[i]``: obs i opened an episode. A NumPy
        array, or with ``as_tensor`` the stage's tensor where it was computed (no host copy)."""
        out = self.stage(self._raw(obs), torch.as_tensor(np.asarray(starts, dtype=bool)))
        return out if as_tensor else out.cpu().numpy()

    def terminal(self, final_obs: dict[int, Any], others: Any = None) -> dict[int, dict[str, Any]]:
        """The terminal observations of the envs in ``final_obs`` (env index -> observation, their
        episodes already reset by the vector env), each with the history it closes its episode
        with: one more step of the memory, then every env's memory restored exactly. The other
        envs' rows of that step are ``others`` (this step's observations; their step is undone),
        which matters where the inputs are standardised over the batch (HELMv2)."""
        memory = self.stage.memory
        assert memory is not None
        filler = next(iter(final_obs.values()))
        rest = [filler] * self.n_envs if others is None else self._rows(others)
        rows = [final_obs.get(i, rest[i]) for i in range(self.n_envs)]
        batch = np.stack(rows) if self.key is None else {self.key: np.stack([o[self.key] for o in rows])}
        go_on = np.zeros(self.n_envs, dtype=bool)
        with torch.inference_mode():
            saved = memory.snapshot_step(torch.as_tensor(go_on))
            try:
                hist = self.step(batch, go_on)
            finally:
                memory.restore_step(saved)
        return {i: self.join(o, hist[i]) for i, o in final_obs.items()}

    def _rows(self, obs: Any) -> list[Any]:
        """A batched observation as one observation per env."""
        if self.key is None:
            return list(np.asarray(obs))
        return [{k: v[i] for k, v in obs.items()} for i in range(self.n_envs)]

    def join(self, obs: Any, history: np.ndarray) -> dict[str, Any]:
        parts = dict(obs) if self.key is not None else {OBSERVATION: obs}
        return {**parts, HISTORY: history}


class FrozenHistoryObservation(VectorWrapper):
    """Adds HELM's frozen history to a gymnasium ``VectorEnv``'s observations.

    Observations become a Dict: the original observation (under ``"observation"``, or the original
    Dict's own keys) and ``"history"`` (float32, the LM's width times the number of history layers).
    One FrozenHopfield + LM step per ``step()``, batched over the sub-envs, on ``device``.

    Autoreset: NEXT_STEP (gymnasium's default) clears an env's memory on the step after its episode
    ended, when the env returns the next episode's first observation; SAME_STEP clears it on the
    ending step itself, and ``info["final_obs"]`` gets the terminal observation's history too (the
    memory is stepped once more for it and then restored). DISABLED is refused.

    ``history`` chooses what the LM reads, as the agents do: ``HistoryConfig()`` is HELM's
    FrozenHopfield, ``input_map="clip-features"`` HELMv2's CLIP features and ``"clip-tokens"``
    SHELM's CLIP tokens (both with ``vision_encoder=`` a CLIP folder or hub id).

    ``final_history=False`` leaves ``info["final_obs"]`` as the env gave it and saves that extra
    LM step per ending episode; ``"truncated"`` adds the history to the final observations of
    truncated episodes only, the ones a bootstrap reads (helmrl's trainer, under
    ``bootstrap_truncated``), and leaves terminated ones as the env gave them.

    ``read_window=W`` > 0 also gives each observation the episode's last W histories,
    ``"history_window"`` (W, width), oldest first and this step's last, and ``"history_valid"``
    (W,), 1.0 where a slot belongs to the current episode: the inputs of a trainable read of the
    frozen history (``helmrl.models.history_read``) for another library's learner. Its cost is
    the rollout's: W × width float32 per env step stored (32 × 576 × 4 B = 74 KB for SmolLM2 at
    W = 32), so it is for small windows; helmrl's own trainer keeps one window per env instead.

    ``device_histories=True`` gives ``"history"`` as the stage's torch tensor on ``device``, not a
    NumPy array: a learner on that device then reads it without a copy to the host and back each
    step (helmrl's trainer asks for it). Terminal histories in ``info`` stay NumPy.
    """

    def __init__(
        self,
        env: VectorEnv,
        history: HistoryStage | HistoryConfig | None = None,
        device: torch.device | str = "cpu",
        final_history: bool | Literal["truncated"] = True,
        read_window: int = 0,
        device_histories: bool = False,
    ):
        super().__init__(env)
        if read_window < 0:
            raise ValueError(f"read_window must be >= 0 steps (0: no window), got {read_window}")
        if device_histories and read_window:
            raise ValueError(
                "device_histories keeps the history on the device; read_window's is a NumPy window"
            )
        self.device_histories = device_histories
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        mode = AutoresetMode(mode) if isinstance(mode, str) else mode
        if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(
                f"autoreset mode {mode.value}: FrozenHistoryObservation follows next-step or same-step "
                "autoreset; with DISABLED it cannot tell when an env's episode starts"
            )
        self.autoreset_mode = mode
        self.final_history = final_history
        self.stream = HistoryStream(env.single_observation_space, env.num_envs, history, device)
        space = self.stream.observation_space(env.single_observation_space)
        self.read_window = read_window
        if read_window:
            width = self.stream.width
            space = gym.spaces.Dict(
                {
                    **space.spaces,
                    HISTORY_WINDOW: gym.spaces.Box(
                        -np.inf, np.inf, shape=(read_window, width), dtype=np.float32
                    ),
                    HISTORY_VALID: gym.spaces.Box(0.0, 1.0, shape=(read_window,), dtype=np.float32),
                }
            )
            self._window = np.zeros((env.num_envs, read_window, width), dtype=np.float32)
            self._valid = np.zeros((env.num_envs, read_window), dtype=np.float32)
        self.single_observation_space = space
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, env.num_envs)
        self._ended = np.zeros(env.num_envs, dtype=bool)  # NEXT_STEP: an env's next obs is a reset

    @property
    def frozen_history(self) -> HistoryStage:
        return self.stream.stage

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None):
        if options and "reset_mask" in options:
            raise ValueError(
                "reset_mask (a partial reset) is not supported: the memory steps every env at once"
            )
        obs, info = self.env.reset(seed=seed, options=options)
        self.stream.reset()
        self._ended[:] = False
        starts = np.ones(self.num_envs, dtype=bool)
        history = self.stream.step(obs, starts, as_tensor=self.device_histories)
        return self._with_window(self.stream.join(obs, history), starts), info

    def step(self, actions: Any):
        obs, reward, terminated, truncated, info = self.env.step(actions)
        done = np.asarray(terminated) | np.asarray(truncated)
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            starts, self._ended = self._ended, done
        else:
            starts = done
            ends = done if self.final_history is True else np.asarray(truncated) & ~np.asarray(terminated)
            if self.final_history and ends.any() and "final_obs" in info:
                info = dict(info)
                ended = self.stream.terminal(
                    {int(i): info["final_obs"][i] for i in np.flatnonzero(ends)}, others=obs
                )
                info["final_obs"] = np.array(info["final_obs"], dtype=object, copy=True)
                for i, o in ended.items():
                    if self.read_window:  # the terminal step closes its episode's window
                        window, valid = self._shifted(i, o[HISTORY], start=False)
                        o = {**o, HISTORY_WINDOW: window, HISTORY_VALID: valid}
                    info["final_obs"][i] = o
        joined = self.stream.join(obs, self.stream.step(obs, starts, as_tensor=self.device_histories))
        return self._with_window(joined, starts), reward, terminated, truncated, info

    def _shifted(self, i: int, history: np.ndarray, start: bool) -> tuple[np.ndarray, np.ndarray]:
        """Env i's window and validity with ``history`` pushed in (after clearing at a start)."""
        valid = np.zeros_like(self._valid[i]) if start else self._valid[i]
        window = np.concatenate([self._window[i, 1:], history[None].astype(np.float32)])
        return window, np.concatenate([valid[1:], np.ones(1, dtype=np.float32)])

    def _with_window(self, obs: dict[str, Any], starts: np.ndarray) -> dict[str, Any]:
        """``obs`` with each env's window of recent histories, which this step then advances."""
        if not self.read_window:
            return obs
        for i in range(self.num_envs):
            self._window[i], self._valid[i] = self._shifted(i, obs[HISTORY][i], bool(starts[i]))
        return {**obs, HISTORY_WINDOW: self._window.copy(), HISTORY_VALID: self._valid.copy()}
