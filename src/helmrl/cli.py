"""Command line: a thin layer over TrainConfig and the trainer.

helmrl train --env MiniGrid-KeyCorridorS3R1-v0 --agent helm --total-steps 300000 --run-dir runs/kc
helmrl train --resume runs/kc
helmrl eval runs/kc --episodes 20
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import typing
from pathlib import Path

from .config import (
    PRESETS,
    TrainConfig,
    config_fields,
    field_types,
    parse_bool,
    preset,
    section_of,
)
from .errors import BAD_INPUT, NonFiniteError, UsageError

EXIT_USAGE = 2  # bad input (helmrl.errors.BAD_INPUT): one line on stderr


def _parse_bool(text: str) -> bool:
    try:
        return parse_bool(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_PARSERS = {int: int, float: float, str: str, bool: _parse_bool}
_ALIASES = {"env_id": ["--env"]}


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per config field, flat, in a group per section; choices come from the field's
    Literal type."""
    titles = {
        None: "run (defaults: the authors' settings)",
        "history": "frozen history (HistoryConfig)",
        "net": "trainable networks (NetConfig)",
        "ppo": "PPO (PPOConfig)",
    }
    groups = {owner: parser.add_argument_group(title) for owner, title in titles.items()}
    types, owners = field_types(), section_of()
    for f in config_fields():
        flags = [f"--{f.name.replace('_', '-')}", *_ALIASES.get(f.name, [])]
        tp = types[f.name]
        kwargs: dict = {"type": _PARSERS.get(tp), "metavar": getattr(tp, "__name__", "X").upper()}
        if typing.get_origin(tp) is typing.Literal:
            kwargs = {"choices": typing.get_args(tp)}
        default = "none" if f.default == "" else f.default
        text = f"{f.metadata['help']} (default: {default})".replace("%", "%%")
        groups[owners[f.name]].add_argument(*flags, dest=f.name, default=None, help=text, **kwargs)


class _DefaultsFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the text already names it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or not action.option_strings or action.default is argparse.SUPPRESS:
            return text
        if action.nargs == 0:  # a flag
            return f"{text} (default: off)"
        return f"{text} (default: %(default)s)"


def _use_defaults_formatter(parser: argparse.ArgumentParser) -> None:
    """Every parser's help names its defaults, and no parser takes a flag's prefix for the flag
    (``--out`` must not become ``--output-gain``)."""
    parser.formatter_class = _DefaultsFormatter
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _use_defaults_formatter(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="helmrl", description="HELM and baselines, trained with PPO.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train an agent (writes config, metrics, TensorBoard, checkpoint)")
    train.add_argument("--run-dir", type=Path, help="output folder (default: runs/<env>-<agent>-s<seed>)")
    train.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="settings for an env and the chosen agent (`helmrl presets`; default: none)",
    )
    train.add_argument(
        "--resume",
        type=Path,
        metavar="DIR",
        help="continue the run in DIR from its checkpoint (default: a new run)",
    )
    train.add_argument("--overwrite", action="store_true", help="replace an existing run in --run-dir")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument(
        "--seeds",
        metavar="LIST",
        help="train these seeds (0,1,2 or 0-4) together, a process each, sharing one frozen LM (HELM): "
        "--run-dir gets one run directory per seed, s0 s1 ...; --resume DIR resumes the group "
        "(default: one run of --seed)",
    )
    _add_config_options(train)

    ev = sub.add_parser("eval", help="evaluate a trained run's checkpoint")
    ev.add_argument("run_dir", type=Path, help="a run directory")
    ev.add_argument("--episodes", type=int, default=10, help="episodes to play")
    ev.add_argument("--greedy", action="store_true", help="argmax actions instead of sampling")
    ev.add_argument("--seed", type=int, default=12345, help="seed of the evaluation envs")

    plot = sub.add_parser("plot", help="learning curves of runs (mean, 95%% CI across seeds) + IQM table")
    plot.add_argument("run_dirs", type=Path, nargs="+", help="run directories (seeds of an agent are pooled)")
    plot.add_argument("--out", type=Path, default=Path("curves.png"), help="PNG (default: curves.png)")
    plot.add_argument(
        "--reference",
        type=Path,
        metavar="CSV",
        help="published points to draw over the runs: env_id,agent,step,return "
        "(e.g. benchmarks/results/paper_curves.csv; default: none)",
    )

    from .analysis import defaults  # plain values: no torch to build the parser

    analyze = sub.add_parser("analyze", help="what FrozenHopfield and the frozen LM do (paper figures)")
    kinds = analyze.add_subparsers(dest="kind", required=True)
    for kind, text in [
        ("distances", "observation vs FrozenHopfield distance matrices for several β"),
        ("words", "the token β→∞ retrieves at every step of one episode"),
        ("attention", "the frozen LM's attention maps over one episode"),
        ("memory", "linear probes: which LM layer keeps the observation k steps back"),
    ]:
        k = kinds.add_parser(kind, help=text)
        k.add_argument(
            "run_dir",
            type=Path,
            nargs="?",
            help="a run directory: its env, policy and its own frozen stage, as it trained",
        )
        k.add_argument("--run", type=Path, help="the same, as an option (default: none)")
        k.add_argument(
            "--env", help=f"without a run: the env to play with random actions (default: {defaults.BARE_ENV})"
        )
        k.add_argument("--lm", help="without a run: the frozen LM (default: a default `helmrl train` run's)")
        k.add_argument(
            "--seed",
            type=int,
            default=defaults.SEED,
            help="seed of the envs and the policy's actions (without a run, also of FrozenHopfield's P)",
        )
        k.add_argument("--out", type=Path, default=Path(f"{kind}.png"), help="PNG (a CSV goes beside it)")
        beta_help = "without a run: FrozenHopfield β (default: a default `helmrl train` run's)"
        if kind == "memory":
            k.add_argument(
                "--lags", type=int, nargs="+", default=list(defaults.PROBE_LAGS), help="steps back to predict"
            )
            k.add_argument(
                "--layers",
                type=int,
                nargs="+",
                help=f"layers to probe (default: {defaults.PROBE_LAYER_COUNT} spread over the depth; "
                "0 = inputs)",
            )
            k.add_argument(
                "--synthetic", action="store_true", help="random sequences of --symbols observations"
            )
            k.add_argument(
                "--symbols",
                type=int,
                default=defaults.PROBE_SYMBOLS,
                help="distinct observations (synthetic mode)",
            )
            k.add_argument(
                "--n-envs",
                type=int,
                default=defaults.PROBE_ENVS,
                help="envs (3/4 fit the probe, 1/4 test it)",
            )
            k.add_argument("--steps", type=int, default=defaults.PROBE_STEPS, help="steps per env")
            k.add_argument(
                "--mem-len",
                type=int,
                help="without a run: LM memory slots per env (default: a default `helmrl train` run's; "
                "n_sink at most mem_len - 1)",
            )
            k.add_argument("--no-progress", action="store_true", help="no progress bar")
            k.add_argument("--beta", type=float, help=beta_help)
            continue
        if kind == "distances":
            k.add_argument("--n", type=int, default=defaults.DISTANCE_OBSERVATIONS, help="observations")
            k.add_argument(
                "--betas",
                type=float,
                nargs="+",
                help=f"β values (default: {' '.join(f'{b:g}' for b in defaults.DISTANCE_BETAS)}, "
                "and a run's own)",
            )
        else:
            k.add_argument(
                "--max-steps", type=int, default=defaults.EPISODE_STEPS, help="steps of the episode shown"
            )
        if kind == "attention":
            k.add_argument("--beta", type=float, help=beta_help)

    rec = sub.add_parser("record", help="video of a trained agent (.gif or .mp4)")
    rec.add_argument("run_dir", type=Path, help="a run directory")
    rec.add_argument("--episodes", type=int, default=3, help="episodes to record")
    rec.add_argument("--out", type=Path, default=Path("agent.gif"), help=".gif or .mp4")
    rec.add_argument("--seed", type=int, default=0, help="seed of the env")

    sw = sub.add_parser("sweep", help="an (env, agent, seed) grid of runs on Ray, and its summary")
    sw.add_argument(
        "spec", type=Path, help="TOML: name, envs, agents, seeds, total_steps, preset, [overrides]"
    )
    sw.add_argument("--out", type=Path, help="where the cells' run directories go (default: sweeps/<name>)")
    sw.add_argument(
        "--address", help="an existing Ray cluster: 'auto' or ray://HOST:PORT (default: local Ray)"
    )
    sw.add_argument("--cpus-per-run", type=int, default=1, help="CPUs (and torch threads) per cell")
    sw.add_argument("--summary", action="store_true", help="only summarise the finished cells, run nothing")
    sw.add_argument(
        "--list",
        action="store_true",
        help="print one `helmrl sweep ... --cell NAME` command per unfinished cell, run nothing "
        "(for a batch scheduler or GNU parallel where there is no Ray)",
    )
    sw.add_argument(
        "--cell",
        metavar="NAME",
        help="run this one cell here, without Ray (resumes it; default: every unfinished cell, on Ray)",
    )
    sw.add_argument(
        "--batch-seeds",
        action="store_true",
        help="train the HELM cells that can share one frozen LM (the same LM, memory and steps; any "
        "seed or β) as one seed group each (helmrl train --seeds); --list prints the groups, and "
        "--cell takes a group as NAME,NAME,... (default: every cell on its own)",
    )
    sw.add_argument(
        "--allow-dirty",
        action="store_true",
        help="run cells although helmrl's source has uncommitted changes (default: refuse, so that "
        "every cell's recorded commit is the code that ran)",
    )

    sub.add_parser("presets", help="list the presets and their settings")
    sub.add_parser("agents", help="list the registered agents")
    sub.add_parser("envs", help="list the env ids helmrl registers, and the families it wraps")
    _use_defaults_formatter(parser)
    return parser


def _config_from_args(args: argparse.Namespace) -> TrainConfig:
    agent = args.agent or TrainConfig.agent
    cfg = preset(args.preset, agent) if args.preset else TrainConfig()
    overrides = {f.name: getattr(args, f.name) for f in config_fields()}
    return cfg.replace(**{k: v for k, v in overrides.items() if v is not None})


def cmd_train(args: argparse.Namespace) -> int:
    from .runs import prepare_run, resume_run
    from .seed_group import group_members

    if args.seeds is not None or (args.resume and group_members(args.resume)):
        return _train_seed_group(args)
    if args.resume:
        overrides = {
            f.name: getattr(args, f.name) for f in config_fields() if getattr(args, f.name) is not None
        }
        trainer, cfg = resume_run(args.resume, overrides, progress=not args.no_progress)
        resume = True
    else:
        cfg = _config_from_args(args)
        run_dir = args.run_dir or Path("runs") / f"{cfg.env_id}-{cfg.agent}-s{cfg.seed}"
        trainer = prepare_run(cfg, run_dir, overwrite=args.overwrite, progress=not args.no_progress)
        resume = False
    result = trainer.train(resume=resume)
    from .analysis.curves import plot_learning_curve

    png = plot_learning_curve(result.run_dir)
    state = (
        "interrupted; continue with `helmrl train --resume " + str(result.run_dir) + "`"
        if result.interrupted
        else "done"
    )
    print(f"{state}: {result.global_step} env steps of {cfg.agent} on {cfg.env_id}")
    print(f"  metrics:    {result.metrics_path}")
    print(f"  checkpoint: {result.checkpoint_path}")
    print(f"  curve:      {png}")
    print(f"  tensorboard --logdir {result.run_dir / 'tb'}")
    return 130 if result.interrupted else 0


def _train_seed_group(args: argparse.Namespace) -> int:
    """``--seeds``: the seeds as a group sharing one LM (helmrl.seed_group); ``--resume`` of a
    group's folder: every member from its checkpoint."""
    from .seed_group import parse_seeds, resume_group_configs, train_group

    if args.resume:
        if args.seeds is not None:
            raise UsageError("--resume DIR resumes the group's seeds as they are; drop --seeds")
        overrides = {
            f.name: getattr(args, f.name) for f in config_fields() if getattr(args, f.name) is not None
        }
        root = args.resume
        cfgs, dirs = resume_group_configs(root, overrides)
        resume = [True] * len(dirs)
    else:
        seeds = parse_seeds(args.seeds)
        if args.seed is not None:
            raise UsageError("give --seeds or --seed, not both")
        base = _config_from_args(args)
        root = args.run_dir or Path("runs") / f"{base.env_id}-{base.agent}-seeds"
        cfgs = [base.replace(seed=s) for s in seeds]
        dirs = [root / f"s{s}" for s in seeds]
        resume, overrides = [False] * len(seeds), {}
    codes = train_group(
        cfgs,
        dirs,
        resume,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        resume_overrides=overrides,
    )
    for d, code in zip(dirs, codes, strict=True):
        state = {0: "done", 130: "stopped, checkpoint saved"}.get(
            code, f"failed (exit {code}; its error is above)"
        )
        print(f"  {d}: {state}")
    if any(code not in (0, 130) for code in codes):
        return 1
    if any(code == 130 for code in codes):
        print(f"continue with `helmrl train --resume {root}`")
        return 130
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .runs import evaluate_run

    if args.episodes <= 0:
        raise UsageError(f"--episodes {args.episodes}: must be a positive number of episodes")
    returns = evaluate_run(args.run_dir, args.episodes, greedy=args.greedy, seed=args.seed)
    import numpy as np

    print(f"return over {len(returns)} episodes: mean {np.mean(returns):.4f} std {np.std(returns):.4f}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from .analysis.curves import plot_runs

    try:
        from .analysis.curves import read_reference

        reference = read_reference(args.reference) if args.reference else None
        res = plot_runs(args.run_dirs, args.out, reference=reference)
    except (FileNotFoundError, ValueError) as err:
        raise UsageError(str(err)) from None
    from .analysis.statistics import describe

    parts = [f"{r['agent']}@{r['env_id']}: {describe(r)} (n={r['runs']})" for r in res["summary"]]
    print(
        f"{res['png']}: " + "; ".join(parts) + f"  (curves: {res['curves_csv']}, table: {res['summary_csv']})"
    )
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from .config import AGENT_PRESETS

    for name in sorted(PRESETS):
        print(f"{name:22s} {json.dumps(PRESETS[name])}")
        for agent, settings in AGENT_PRESETS.get(name, {}).items():
            print(f"  --agent {agent:12s} {json.dumps(settings)}")
    return 0


def cmd_agents(args: argparse.Namespace) -> int:
    from .models.agents import AGENTS, DESCRIPTIONS

    for name in sorted(AGENTS):
        print(f"{name:8s} {DESCRIPTIONS[name]}")
    return 0


def cmd_envs(args: argparse.Namespace) -> int:
    from .envs import FAMILIES

    for fam in FAMILIES.values():
        ids = fam.ids()
        shown = ", ".join(ids[:4]) + (f", ... ({len(ids)} ids)" if len(ids) > 4 else "")
        print(f"{fam.name:11s} {fam.description}\n{'':11s} {shown}")
    print("gymnasium   any other id, also `module:EnvId`, with Discrete actions (Discrete obs are one-hot,")
    print("            Dict/Tuple of vectors flattened, as in Stable-Baselines3)")
    return 0


def _command(module: str, name: str):
    """A command whose logic lives in its own package, imported only when it runs."""

    def run(args: argparse.Namespace) -> int:
        return getattr(importlib.import_module(f"helmrl.{module}"), name)(args)

    return run


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {
        "train": cmd_train,
        "eval": cmd_eval,
        "presets": cmd_presets,
        "envs": cmd_envs,
        "agents": cmd_agents,
        "sweep": _command("sweep.command", "run_sweep_command"),
        "plot": cmd_plot,
        "analyze": _command("analysis.commands", "run_analysis"),
        "record": _command("analysis.commands", "run_record"),
    }
    try:
        return handlers[args.command](args)
    except BAD_INPUT as err:
        print(f"helmrl {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except NonFiniteError as err:
        print(f"helmrl {args.command}: error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `helmrl sweep … --list | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
