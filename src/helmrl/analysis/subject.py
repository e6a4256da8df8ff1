"""What an analysis looks at: an env, the frozen history stage, and the policy that acts in it.

An analysis of a run must describe the model that was trained, so a run's stage is the one
``helmrl eval`` plays with: ``helmrl.runs.load_run`` builds it with ``helmrl.build.build`` from
the run's own config (its LM with ``lm_layers``, β, similarity, the seed of FrozenHopfield's
projection, mem_len, n_sink, history_norm, the frozen dtype and the memory implementation), and
the LM is loaded once, by that builder. Where an analysis needs the stage
with one setting changed (another β, every layer's state, a synthetic observation space),
``Subject.variant`` asks the same builder for it, on the same LM module.

A bare env (no run) is looked at through the stage a default ``helmrl train`` run builds
(``TrainConfig``'s defaults), with the few options an analysis offers on top: those defaults are
named here and nowhere else. Only the names needed to print the CLI's help are at module level,
so building the parser does not load torch.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AnalysisError
from .defaults import BARE_ENV

if TYPE_CHECKING:
    from ..config import TrainConfig
    from ..frozen.frozen_hopfield import FrozenHopfield
    from ..frozen.history_config import HistoryConfig
    from ..frozen.history_stage import HistoryStage
    from ..models.agents import Agent

#: Analyses that read FrozenHopfield's retrievals (a HELMv2 or SHELM run has none).
HOPFIELD_ANALYSES = ("distances", "attention", "memory")

_READS = {"clip-features": "CLIP image features", "clip-tokens": "CLIP's top-k tokens"}


@dataclass
class Subject:
    """An env, the frozen stage that turns its observations into histories, and a policy.

    ``config`` is what built ``stage``; ``agent`` None means uniformly random actions."""

    env_id: str
    config: HistoryConfig
    stage: HistoryStage
    obs_shape: tuple[int, ...]
    tokenizer: object | None = None
    agent: Agent | None = None
    run_dir: Path | None = None

    @property
    def title(self) -> str:
        """Where the stage comes from, for figure titles and printed summaries."""
        return f"run {self.run_dir}" if self.run_dir is not None else f"{self.env_id}, default stage"

    @property
    def frozen_history(self) -> HistoryStage:
        """The stage as FrozenHopfield + LM; refuses a HELMv2/SHELM stage (its LM reads CLIP's
        outputs, so FrozenHopfield's would describe a model that was never trained)."""
        from ..frozen.frozen_hopfield import FrozenHopfield

        if not isinstance(self.stage.input_map, FrozenHopfield):
            reads = _READS[self.config.input_map]
            raise AnalysisError(f"{self.title}: its LM reads {reads}, not FrozenHopfield's retrievals")
        return self.stage

    @property
    def hopfield(self) -> FrozenHopfield:
        """The stage's own FrozenHopfield: the β, similarity, seed and LM the run trained with."""
        return self.frozen_history.input_map

    def variant(self, obs_shape: tuple[int, ...] | None = None, **changes: object) -> HistoryStage:
        """The stage ``build_history_stage`` builds for this subject's config with ``changes``
        (e.g. ``history_layer``), on the same LM module and device: so it differs from ``stage``
        only in what was asked, never in a setting an analysis forgot to pass on."""
        from ..frozen.history_stage import build_history_stage

        base = self.frozen_history
        cfg = dataclasses.replace(self.config, **changes)
        return build_history_stage(cfg, obs_shape or self.obs_shape, base.device, base.lm)

    def hopfield_at(self, beta: float) -> FrozenHopfield:
        """The stage's FrozenHopfield at another β (the same one at the stage's own β)."""
        if beta == self.config.beta:
            return self.hopfield
        # history_norm acts on the LM's states, not on FrozenHopfield: no calibration run for it
        return self.variant(beta=beta, history_norm="none").input_map


def _run_config(run_dir: Path) -> TrainConfig:
    from ..config import TrainConfig

    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise AnalysisError(f"{run_dir}: no config.json; is it a helmrl run directory?")
    return TrainConfig.load(path)


def check_run(run_dir: Path, analysis: str) -> None:
    """Refuse, from the run's config.json alone (before any model loads), an analysis that could
    not describe the run: one of a run without a frozen history, or one that reads FrozenHopfield
    on a HELMv2/SHELM run (their LM reads CLIP's outputs; showing FrozenHopfield's would describe
    a model that was never trained)."""
    from ..models.agents import AGENTS

    cfg = _run_config(run_dir)
    cls = AGENTS.get(cfg.agent)
    if cls is None:
        raise AnalysisError(f"{run_dir}: unknown agent {cfg.agent!r}; known: {', '.join(sorted(AGENTS))}")
    if not cls.uses_history:
        raise AnalysisError(
            f"{run_dir}: a {cfg.agent} run has no frozen history to analyse; "
            f"`--env {cfg.env_id}` without a run looks at the default HELM stage on its env"
        )
    reads = cfg.history.input_map
    if reads == "clip-features" and analysis == "words":
        raise AnalysisError("a helmv2 run feeds its LM CLIP image features, not tokens: no words to show")
    if reads != "hopfield" and analysis in HOPFIELD_ANALYSES:
        raise AnalysisError(
            f"{run_dir}: `analyze {analysis}` looks at FrozenHopfield, and this {cfg.agent} run's LM reads "
            f"{_READS[reads]} instead (`analyze words` shows what a shelm run's LM read)"
        )


def load_subject(run_dir: Path, analysis: str, device: str = "auto") -> Subject:
    """A run's env, its trained policy and its own frozen stage (see the module docstring)."""
    from ..build import history_stage, observation_shape
    from ..runs import load_run

    check_run(run_dir, analysis)
    cfg, envs, agent = load_run(run_dir, 1, device)
    stage, obs_shape = history_stage(envs), observation_shape(envs)
    envs.close()
    return Subject(
        cfg.env_id, cfg.history, stage, obs_shape, load_tokenizer(cfg.history.lm), agent, Path(run_dir)
    )


def bare_run_config(
    lm: str | None = None, seed: int = 0, beta: float | None = None, mem_len: int | None = None
) -> TrainConfig:
    """A default ``helmrl train`` HELM run, with the options a bare analysis offers: the LM, the
    seed, β and the memory's length (n_sink: the default's, at most mem_len - 1)."""
    from ..config import TrainConfig

    base = TrainConfig(agent="helm")
    changes: dict[str, object] = {"seed": seed}
    if lm is not None:
        changes["lm"] = lm
    if beta is not None:
        if not (math.isfinite(beta) and beta > 0):
            raise AnalysisError(f"--beta {beta}: must be > 0")
        changes["beta"] = float(beta)
    if mem_len is not None:
        if mem_len < 1:
            raise AnalysisError(f"--mem-len {mem_len}: must be a positive number of slots")
        changes.update(mem_len=mem_len, n_sink=min(base.history.n_sink, mem_len - 1))
    return base.replace(**changes)


def bare_config(
    lm: str | None = None, seed: int = 0, beta: float | None = None, mem_len: int | None = None
) -> HistoryConfig:
    """The frozen history stage of ``bare_run_config``'s run."""
    return bare_run_config(lm, seed, beta, mem_len).history


def bare_subject(
    env_id: str | None = None,
    lm: str | None = None,
    seed: int = 0,
    beta: float | None = None,
    mem_len: int | None = None,
    device: str = "auto",
) -> Subject:
    """An env under a random policy, seen through ``bare_run_config``'s stage."""
    from ..build import build, history_stage, observation_shape
    from ..envs import check_env_id

    env_id = env_id or BARE_ENV
    check_env_id(env_id)
    run = bare_run_config(lm, seed, beta, mem_len).replace(env_id=env_id, device=device)
    envs, _ = build(run, 1)  # the run's envs and stage; the policy here is random
    stage, obs_shape = history_stage(envs), observation_shape(envs)
    envs.close()
    return Subject(env_id, run.history, stage, obs_shape, load_tokenizer(run.history.lm))


def load_tokenizer(name: str) -> object | None:
    """The tokenizer of the LM ``name``, without its weights (None where it has none).

    Why not ``load_language_model``: the stage already holds the LM the builder loaded, and only
    decoding tokens into words needs the tokenizer; loading the LM again would double the time
    and memory, and could differ from the stage's (``lm_layers``, a random-init seed)."""
    from transformers import AutoTokenizer

    from ..frozen import language_model as lm_module
    from ..frozen.language_model import DEFAULT_LM, RANDOM_INIT

    if name == RANDOM_INIT:
        return None
    try:
        if name == DEFAULT_LM:
            converted = lm_module.cache_root() / "smollm2-135m"  # written when the builder loaded it
            if (converted / "tokenizer_config.json").exists():
                return AutoTokenizer.from_pretrained(converted, trust_remote_code=False)
            folder = lm_module._smollm2_folder()  # no writable cache: the GGUF's own tokenizer
            return AutoTokenizer.from_pretrained(folder, gguf_file=lm_module._SMOLLM2_GGUF)
        path = Path(name).expanduser()
        return AutoTokenizer.from_pretrained(str(path) if path.exists() else name, trust_remote_code=False)
    except (OSError, ValueError, TypeError):
        return None
