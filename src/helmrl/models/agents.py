"""Agents: HELM and the two baselines behind one interface, so the PPO trainer swaps them
by a config value (``--agent helm|lstm|cnn``) and never branches on which one it has.

The interface (everything the trainer calls):

* ``reset_memory(n_envs)``: forget all history (start of training / evaluation);
* ``act(obs, episode_start) -> (logits, value, extras)``: one env step; advances the memory;
  ``extras`` are per-step tensors the update needs again (HELM: the frozen history);
* ``peek_value(obs, episode_start) -> value``: V(s) for bootstrapping, memory not advanced
  (the next ``act`` on the same observation gives the same result);
* ``memory_context() -> dict``: the memory at the start of a rollout, env axis first;
  recurrent agents replay each env's rollout from it in the update;
* ``evaluate(obs, extras, episode_start, context) -> (logits, value)`` on (T, N, ...) tensors;
* ``recurrent``: True when ``evaluate`` must see whole per-env sequences.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod

import torch
from torch import Tensor, nn

from .encoders import make_encoder, observation_to_vector
from .frozen_hopfield import FrozenHopfield
from .heads import ActorCriticHead
from .lm_memory import StreamingLMMemory, make_lm_memory

Extras = dict[str, Tensor]


class Agent(nn.Module, ABC):
    recurrent: bool = False

    def reset_memory(self, n_envs: int) -> None:  # noqa: B027 - stateless agents keep nothing
        pass

    @abstractmethod
    def act(self, obs: Tensor, episode_start: Tensor) -> tuple[Tensor, Tensor, Extras]: ...

    @abstractmethod
    def peek_value(self, obs: Tensor, episode_start: Tensor) -> Tensor: ...

    def memory_context(self) -> Extras:
        return {}

    @abstractmethod
    def evaluate(
        self, obs: Tensor, extras: Extras, episode_start: Tensor, context: Extras
    ) -> tuple[Tensor, Tensor]: ...


def _flatten_time(x: Tensor) -> Tensor:
    return x.reshape(-1, *x.shape[2:])


class CNNAgent(Agent):
    """CNN-PPO: the Markovian baseline (small Impala, channel scale 4, 1024 features)."""

    def __init__(
        self, obs_shape: tuple[int, ...], n_actions: int, channel_scale: int = 4, features: int = 1024
    ):
        super().__init__()
        self.encoder = make_encoder(obs_shape, channel_scale, features)
        self.head = ActorCriticHead(self.encoder.out_dim, n_actions)

    def act(self, obs: Tensor, episode_start: Tensor) -> tuple[Tensor, Tensor, Extras]:
        logits, value = self.head(self.encoder(obs))
        return logits, value, {}

    def peek_value(self, obs: Tensor, episode_start: Tensor) -> Tensor:
        return self.head(self.encoder(obs))[1]

    def evaluate(self, obs, extras, episode_start, context):  # noqa: ANN001 - see Agent
        T, N = obs.shape[:2]
        logits, value = self.head(self.encoder(_flatten_time(obs)))
        return logits.view(T, N, -1), value.view(T, N)


class LSTMAgent(Agent):
    """Impala-PPO: small Impala CNN (scale 1, 256 features) → LSTM(256) → head, from scratch.

    The state is zeroed at episode starts (multiplied by 1 - start), and the update replays
    each env's rollout from the state stored at the rollout's start.
    """

    recurrent = True

    def __init__(self, obs_shape: tuple[int, ...], n_actions: int, hidden: int = 256, channel_scale: int = 1):
        super().__init__()
        self.encoder = make_encoder(obs_shape, channel_scale, hidden)
        # LSTMCell, not nn.LSTM: the update steps one timestep at a time (to zero the state at
        # episode starts), and per-step nn.LSTM calls are ~6x slower to backpropagate on CPU.
        self.lstm = nn.LSTMCell(self.encoder.out_dim, hidden)
        for name, p in self.lstm.named_parameters():
            if "bias" in name:
                nn.init.zeros_(p)
            else:
                nn.init.orthogonal_(p, 1.0)
        self.head = ActorCriticHead(hidden, n_actions)
        self.hidden = hidden
        self.register_buffer("h", torch.zeros(0, hidden), persistent=False)
        self.register_buffer("c", torch.zeros(0, hidden), persistent=False)

    def reset_memory(self, n_envs: int) -> None:
        self.h = torch.zeros(n_envs, self.hidden)
        self.c = torch.zeros(n_envs, self.hidden)

    def _step(self, feat: Tensor, start: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        keep = (1.0 - start.float())[:, None]
        h, c = self.lstm(feat, (h * keep, c * keep))
        return h, h, c

    def act(self, obs: Tensor, episode_start: Tensor) -> tuple[Tensor, Tensor, Extras]:
        out, self.h, self.c = self._step(self.encoder(obs), episode_start, self.h, self.c)
        logits, value = self.head(out)
        return logits, value, {}

    def peek_value(self, obs: Tensor, episode_start: Tensor) -> Tensor:
        out, _, _ = self._step(self.encoder(obs), episode_start, self.h, self.c)
        return self.head(out)[1]

    def memory_context(self) -> Extras:
        return {"h": self.h.clone(), "c": self.c.clone()}

    def evaluate(self, obs, extras, episode_start, context):  # noqa: ANN001 - see Agent
        T, N = obs.shape[:2]
        feats = self.encoder(_flatten_time(obs)).view(T, N, -1)
        h, c = context["h"], context["c"]
        outs = []
        for t in range(T):
            out, h, c = self._step(feats[t], episode_start[t], h, c)
            outs.append(out)
        logits, value = self.head(torch.stack(outs).view(T * N, -1))
        return logits.view(T, N, -1), value.view(T, N)


class FrozenHistory(nn.Module):
    """FrozenHopfield + frozen LM memory: observation -> history representation. No gradients."""

    def __init__(
        self,
        lm_model: nn.Module,
        obs_dim: int,
        beta: float,
        mem_len: int,
        n_sink: int,
        similarity: str = "cosine",
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
        implementation: str = "auto",
        cache_size: int = 32768,
    ):
        super().__init__()
        emb = lm_model.get_input_embeddings().weight.detach()
        # FrozenHopfield is a fixed function of the observation, and observations repeat a lot
        # (egocentric grid views): retrievals are cached by a digest of the raw observation.
        self.cache_size = cache_size
        self._cache: dict[bytes, Tensor] = {}
        self.hopfield = FrozenHopfield(emb, obs_dim, beta, similarity=similarity, seed=seed, dtype=dtype)
        object.__setattr__(self, "lm_model", lm_model)  # frozen, rebuilt from config on load
        self.mem_len, self.n_sink, self.dtype, self.implementation = mem_len, n_sink, dtype, implementation
        self.memory: StreamingLMMemory | None = None
        self.out_dim = emb.shape[1]

    def reset(self, n_envs: int) -> None:
        if self.memory is None or self.memory.n_envs != n_envs:
            self.memory = make_lm_memory(
                self.lm_model, n_envs, self.mem_len, self.n_sink, self.dtype, self.implementation
            )
        self.memory.reset()
        # Start from an empty cache so results do not depend on what ran before (fp32 GEMMs
        # round differently for different batch compositions): resumed runs stay identical.
        self._cache.clear()

    @torch.inference_mode()
    def forward(self, obs: Tensor, episode_start: Tensor) -> Tensor:
        assert self.memory is not None, "call reset(n_envs) first"
        return self.memory(self.retrieve(obs), episode_start)

    @torch.inference_mode()
    def retrieve(self, obs: Tensor) -> Tensor:
        """FrozenHopfield outputs for raw observations (B, ...) -> (B, m), through the cache."""
        if self.cache_size == 0:
            return self.hopfield(observation_to_vector(obs))
        rows = obs.reshape(obs.shape[0], -1).numpy()
        keys = [hashlib.blake2b(r.tobytes(), digest_size=16).digest() for r in rows]
        missing = list({k: i for i, k in enumerate(keys) if k not in self._cache}.values())
        if missing:
            if len(self._cache) + len(missing) > self.cache_size:
                self._cache.clear()  # bounded memory; refilled from the next steps
            fresh = self.hopfield(observation_to_vector(obs[missing]))
            for i, x in zip(missing, fresh, strict=True):
                self._cache[keys[i]] = x
        return torch.stack([self._cache[k] for k in keys])


class HELMAgent(Agent):
    """HELM: [frozen LM history, CNN(current obs)] → actor-critic head.

    Only the CNN and the head train. The history is computed once per env step in ``act`` and
    stored in the rollout (``extras["history"]``), so PPO epochs never run the LM.
    """

    def __init__(
        self,
        obs_shape: tuple[int, ...],
        n_actions: int,
        frozen: FrozenHistory,
        channel_scale: int = 4,
        features: int = 1024,
    ):
        super().__init__()
        self.encoder = make_encoder(obs_shape, channel_scale, features)
        self.head = ActorCriticHead(frozen.out_dim + self.encoder.out_dim, n_actions)
        # Not a registered submodule: the LM stays out of parameters(), state_dict() and the
        # optimizer; it is rebuilt from the config when a checkpoint loads.
        object.__setattr__(self, "frozen", frozen)
        self._pending: Tensor | None = None  # history computed by peek_value for the next act

    def reset_memory(self, n_envs: int) -> None:
        self.frozen.reset(n_envs)
        self._pending = None

    def _history(self, obs: Tensor, episode_start: Tensor) -> Tensor:
        if self._pending is not None:
            history, self._pending = self._pending, None
            return history
        return self.frozen(obs, episode_start).clone()  # clone: leave inference mode

    def act(self, obs: Tensor, episode_start: Tensor) -> tuple[Tensor, Tensor, Extras]:
        history = self._history(obs, episode_start)
        logits, value = self.head(torch.cat([history, self.encoder(obs)], dim=1))
        return logits, value, {"history": history}

    def peek_value(self, obs: Tensor, episode_start: Tensor) -> Tensor:
        # The LM is frozen, so the history of the next step does not depend on the update
        # that happens in between: compute it now and hand it to the next act().
        self._pending = self._history(obs, episode_start)
        return self.head(torch.cat([self._pending, self.encoder(obs)], dim=1))[1]

    def evaluate(self, obs, extras, episode_start, context):  # noqa: ANN001 - see Agent
        T, N = obs.shape[:2]
        feats = torch.cat([_flatten_time(extras["history"]), self.encoder(_flatten_time(obs))], dim=1)
        logits, value = self.head(feats)
        return logits.view(T, N, -1), value.view(T, N)


def build_agent(cfg, obs_shape: tuple[int, ...], n_actions: int, lm_model: nn.Module | None = None) -> Agent:  # noqa: ANN001
    """The agent a TrainConfig names. ``lm_model`` is the loaded frozen LM (HELM only)."""
    from .encoders import observation_to_vector as _ovec
    from .language_model import load_language_model, resolve_frozen_dtype

    if cfg.agent == "cnn":
        return CNNAgent(obs_shape, n_actions)
    if cfg.agent == "lstm":
        return LSTMAgent(obs_shape, n_actions)
    if cfg.agent == "helm":
        if lm_model is None:
            lm_model = load_language_model(cfg.lm).model
        obs_dim = _ovec(torch.zeros(1, *obs_shape)).shape[1]
        frozen = FrozenHistory(
            lm_model,
            obs_dim=obs_dim,
            beta=cfg.beta,
            mem_len=cfg.mem_len,
            n_sink=cfg.n_sink,
            similarity=cfg.similarity,
            seed=cfg.seed,
            dtype=resolve_frozen_dtype(cfg.frozen_dtype),
            implementation=cfg.memory_impl,
            cache_size=cfg.hopfield_cache,
        )
        return HELMAgent(obs_shape, n_actions, frozen)
    raise ValueError(f"unknown agent {cfg.agent!r}; known: helm, lstm, cnn")
