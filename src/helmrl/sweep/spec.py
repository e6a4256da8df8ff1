"""A sweep spec: the (env, agent, seed) grid of runs, read from TOML and validated up front.

name = "kc"
envs = ["MiniGrid-KeyCorridorS3R1-v0"]
agents = ["helm", "lstm", "cnn"]
seeds = [0, 1, 2]
total_steps = 300000
preset = "keycorridor"        # optional
eval_episodes = 100           # optional: the final policy's evaluation in cell.json (0: none)
[overrides]                   # optional, any TrainConfig field
n_envs = 16
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import PRESETS, ConfigError, TrainConfig, preset, section_of
from ..errors import SpecError

KEYS = {"name", "envs", "agents", "seeds", "total_steps", "preset", "overrides", "variants", "eval_episodes"}


@dataclass(frozen=True)
class Cell:
    env_id: str
    agent: str
    seed: int
    config: TrainConfig
    variant: str = ""

    @property
    def name(self) -> str:
        return f"{self.env_id.replace(':', '_')}-{self.variant or self.agent}-s{self.seed}"


@dataclass
class SweepSpec:
    name: str
    envs: list[str]
    agents: list[str]
    seeds: list[int]
    total_steps: int | None = None
    preset: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    eval_episodes: int = 100

    @classmethod
    def load(cls, path: Path) -> SweepSpec:
        path = Path(path)
        if not path.exists():
            raise SpecError(f"{path}: no such spec file")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as err:
            raise SpecError(f"{path}: not valid TOML ({err})") from None
        return cls.from_dict(data, default_name=path.stem)

    @classmethod
    def from_dict(cls, data: dict[str, Any], default_name: str = "sweep") -> SweepSpec:
        unknown = sorted(set(data) - KEYS)
        if unknown:
            raise SpecError(f"unknown key {unknown[0]!r} in the spec; known: {', '.join(sorted(KEYS))}")
        for key in ("envs", "agents", "seeds"):
            if key not in data:
                raise SpecError(f"missing key {key!r}: a list")
            if not isinstance(data[key], list) or not data[key]:
                raise SpecError(f"{key!r} must be a non-empty list, got {data[key]!r}")
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in data["seeds"]):
            raise SpecError(f"'seeds' must be integers, got {data['seeds']!r}")
        spec = cls(
            name=str(data.get("name", default_name)),
            envs=[str(e) for e in data["envs"]],
            agents=[str(a) for a in data["agents"]],
            seeds=list(data["seeds"]),
            total_steps=data.get("total_steps"),
            preset=data.get("preset"),
            overrides=dict(data.get("overrides", {})),
            variants={str(k): dict(v) for k, v in data.get("variants", {}).items()},
            eval_episodes=data.get("eval_episodes", 100),
        )
        spec.validate()
        return spec

    def validate(self) -> None:
        from ..envs import EnvError, check_env_id
        from ..models.agents import AGENTS

        if (
            not isinstance(self.eval_episodes, int)
            or isinstance(self.eval_episodes, bool)
            or self.eval_episodes < 0
        ):
            raise SpecError(
                f"eval_episodes must be an integer >= 0 (0: no evaluation), got {self.eval_episodes!r}"
            )
        if self.preset is not None and self.preset not in PRESETS:
            raise SpecError(f"preset {self.preset!r} unknown; known: {', '.join(sorted(PRESETS))}")
        known = set(section_of())
        bad = sorted(set(self.overrides) - known)
        if bad:
            raise SpecError(f"overrides: unknown TrainConfig field {bad[0]!r}")
        for key in ("env_id", "agent", "seed"):
            if key in self.overrides:
                raise SpecError(f"overrides: {key!r} is set by the grid (envs/agents/seeds), not an override")
        for name, changes in self.variants.items():
            bad = sorted(set(changes) - known)
            if bad:
                raise SpecError(f"variants.{name}: unknown TrainConfig field {bad[0]!r}")
            if "env_id" in changes or "seed" in changes:
                raise SpecError(f"variants.{name}: env_id and seed are set by the grid")
            if changes.get("agent", "helm") not in AGENTS:
                raise SpecError(f"variants.{name}: unknown agent {changes['agent']!r}")
        for agent in self.agents:
            if agent not in AGENTS:
                raise SpecError(f"agents: unknown agent {agent!r}; known: {', '.join(sorted(AGENTS))}")
        for env_id in self.envs:
            try:
                check_env_id(env_id)
            except EnvError as err:
                raise SpecError(f"envs: {err}") from None
        for cell in self.cells():
            try:
                cell.config.validate()
            except ConfigError as err:
                raise SpecError(f"cell {cell.name}: {err}") from None

    def cells(self) -> list[Cell]:
        def base(agent: str) -> TrainConfig:
            """The preset for this agent (its own settings too), then total_steps and overrides."""
            cfg = preset(self.preset, agent) if self.preset else TrainConfig(agent=agent)
            if self.total_steps is not None:
                cfg = cfg.replace(total_steps=self.total_steps)
            return cfg.replace(**self.overrides)

        # seed-major order: the first finished cells already compare every agent on every env
        cells = []
        for seed in self.seeds:
            for env in self.envs:
                for agent in self.agents:
                    cells.append(Cell(env, agent, seed, base(agent).replace(env_id=env, seed=seed)))
                for name, changes in self.variants.items():
                    agent = changes.get("agent", "helm")
                    cfg = base(agent).replace(**{**changes, "env_id": env, "seed": seed, "label": name})
                    cells.append(Cell(env, cfg.agent, seed, cfg, variant=name))
        return cells
