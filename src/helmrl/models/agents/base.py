"""The agent interface and its registry.

An agent is a policy network with explicit recurrent state, as in CleanRL's
``get_action_and_value(obs, state, done)`` and SB3's recurrent policies:

* ``initial_state(n_envs) -> State``: the state at the start of every env's first episode;
* ``forward(obs, state, episode_start) -> (logits, value, state)``: one env step;
  ``episode_start[i]`` means obs i opened an episode, so the agent zeroes env i's state first;
* ``evaluate(obs, state, episode_start) -> (logits, value)`` on (T, N, ...) rollouts,
  starting from the state the rollout started with (recurrent agents replay the sequence).

``obs`` is a dict of tensors holding at least the keys the agent declares in ``obs_keys``:
``"observation"`` (the env's own) and, for HELM and its variants, ``"history"``, the frozen LM's
output that ``helmrl.wrappers.FrozenHistoryObservation`` adds to each observation once, when it
arrives (the same wrapper a user puts around their env for another library).

A new agent is one new module that defines a subclass and decorates it with
``@register_agent("name")``; config validation, the CLI's choices and the trainer read the
registry, so nothing else lists agent names.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

from torch import Tensor, nn

from ...observation_keys import HISTORY, OBSERVATION
from ..configs import NetConfig

State = dict[str, Tensor]
Observation = dict[str, Tensor]

AGENTS: dict[str, type[Agent]] = {}
#: each registered name's one-line description (``helmrl agents``)
DESCRIPTIONS: dict[str, str] = {}


def register_agent(name: str, description: str | None = None) -> Callable[[type[Agent]], type[Agent]]:
    """Register a class under ``name``. A class already registered under another name gets
    ``name`` as a second name (HELMv2 and SHELM are HELM's networks on another frozen stage)."""

    def wrap(cls: type[Agent]) -> type[Agent]:
        if name in AGENTS and AGENTS[name] is not cls:
            raise ValueError(f"agent {name!r} is already registered by {AGENTS[name].__name__}")
        if cls not in AGENTS.values():
            cls.name = name
        AGENTS[name] = cls
        DESCRIPTIONS[name] = description or cls.description
        return cls

    return wrap


class Agent(nn.Module, ABC):
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: evaluate() must see whole per-env sequences (minibatches are groups of envs)
    recurrent: ClassVar[bool] = False
    #: the observation keys forward() reads
    obs_keys: ClassVar[tuple[str, ...]] = (OBSERVATION,)
    #: reads the frozen history (set from ``obs_keys``): its env gets FrozenHistoryObservation
    uses_history: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.uses_history = HISTORY in cls.obs_keys

    @classmethod
    @abstractmethod
    def from_config(
        cls, net: NetConfig, obs_shape: tuple[int, ...], n_actions: int, history_dim: int
    ) -> Agent:
        """Build the networks (``history_dim`` is 0 for agents without history)."""

    def initial_state(self, n_envs: int) -> State:
        return {}

    @abstractmethod
    def forward(
        self, obs: Observation, state: State, episode_start: Tensor
    ) -> tuple[Tensor, Tensor, State]: ...

    def evaluate(self, obs: Observation, state: State, episode_start: Tensor) -> tuple[Tensor, Tensor]:
        """Markovian default: one batched forward over all T·N samples."""
        T, N = episode_start.shape
        flat = {k: obs[k].reshape(T * N, *obs[k].shape[2:]) for k in self.obs_keys}
        logits, value, _ = self(flat, {}, episode_start.reshape(T * N))
        return logits.view(T, N, -1), value.view(T, N)


def agent_class(name: str) -> type[Agent]:
    if name not in AGENTS:
        raise KeyError(f"unknown agent {name!r}; known: {', '.join(sorted(AGENTS))}")
    return AGENTS[name]
