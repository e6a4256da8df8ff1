"""Command line: a thin layer over TrainConfig and the trainer.

helmrl train --env MiniGrid-KeyCorridorS3R1-v0 --agent helm --total-steps 300000 --run-dir runs/kc
helmrl train --resume runs/kc
helmrl eval runs/kc --episodes 20
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from .config import PRESETS, ConfigError, TrainConfig, preset

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input: printed as one line, exit code 2."""


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


_PARSERS = {"int": int, "float": float, "str": str, "bool": _parse_bool}
_ALIASES = {"env_id": ["--env"]}


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("config (defaults: the authors' settings)")
    for f in dataclasses.fields(TrainConfig):
        flags = [f"--{f.name.replace('_', '-')}", *_ALIASES.get(f.name, [])]
        group.add_argument(
            *flags,
            dest=f.name,
            type=_PARSERS[str(f.type)],
            default=None,
            metavar=str(f.type).upper(),
            help=f"{f.metadata['help']} (default: {f.default})",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="helmrl", description="HELM and baselines, trained with PPO.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train an agent (writes config, metrics, TensorBoard, checkpoint)")
    train.add_argument("--run-dir", type=Path, help="output folder (default: runs/<env>-<agent>-s<seed>)")
    train.add_argument("--preset", choices=sorted(PRESETS), help="start from the paper's settings for an env")
    train.add_argument(
        "--resume", type=Path, metavar="DIR", help="continue the run in DIR from its checkpoint"
    )
    train.add_argument("--overwrite", action="store_true", help="replace an existing run in --run-dir")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_config_options(train)

    ev = sub.add_parser("eval", help="evaluate a trained run's checkpoint")
    ev.add_argument("run_dir", type=Path)
    ev.add_argument("--episodes", type=int, default=10)
    ev.add_argument("--greedy", action="store_true", help="argmax actions instead of sampling")
    ev.add_argument("--seed", type=int, default=12345, help="seed of the evaluation envs")

    sub.add_parser("presets", help="list the presets and their settings")
    sub.add_parser("envs", help="list the env ids helmrl registers, and the families it wraps")
    return parser


def _config_from_args(args: argparse.Namespace) -> TrainConfig:
    cfg = preset(args.preset) if args.preset else TrainConfig()
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    return cfg.replace(**{k: v for k, v in overrides.items() if v is not None})


def cmd_train(args: argparse.Namespace) -> int:
    from .runs import prepare_run, resume_run

    if args.resume:
        overrides = {
            f.name: getattr(args, f.name)
            for f in dataclasses.fields(TrainConfig)
            if getattr(args, f.name) is not None
        }
        trainer, cfg = resume_run(args.resume, overrides, progress=not args.no_progress)
        resume = True
    else:
        cfg = _config_from_args(args)
        run_dir = args.run_dir or Path("runs") / f"{cfg.env_id}-{cfg.agent}-s{cfg.seed}"
        trainer = prepare_run(cfg, run_dir, overwrite=args.overwrite, progress=not args.no_progress)
        resume = False
    result = trainer.train(resume=resume)
    from .analysis.plots import plot_learning_curve

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


def cmd_eval(args: argparse.Namespace) -> int:
    from .runs import evaluate_run

    if args.episodes <= 0:
        raise UsageError(f"--episodes {args.episodes}: must be a positive number of episodes")
    returns = evaluate_run(args.run_dir, args.episodes, greedy=args.greedy, seed=args.seed)
    import numpy as np

    print(f"return over {len(returns)} episodes: mean {np.mean(returns):.4f} std {np.std(returns):.4f}")
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    for name in sorted(PRESETS):
        print(f"{name:22s} {json.dumps(PRESETS[name])}")
    return 0


def cmd_envs(args: argparse.Namespace) -> int:
    import gymnasium as gym
    import minigrid  # noqa: F401 - registers MiniGrid ids

    import helmrl  # noqa: F401 - registers helmrl's ids

    ours = sorted(k for k in gym.registry if k.startswith(("RandomMaze", "ProcgenMemory-", "CueMemory")))
    grid = sorted(k for k in gym.registry if k.startswith("MiniGrid-"))
    print("helmrl:   " + ", ".join(ours))
    print(f"MiniGrid: {len(grid)} ids, e.g. {', '.join(grid[:4])} (56x56 RGB partial view)")
    print("any other registered gymnasium id with Discrete actions and an image or vector observation")
    return 0


def main(argv: list[str] | None = None) -> int:
    from .envs import EnvError
    from .models import LanguageModelError
    from .ppo import CheckpointError, NonFiniteError
    from .runs import RunDirError

    args = build_parser().parse_args(argv)
    handlers = {"train": cmd_train, "eval": cmd_eval, "presets": cmd_presets, "envs": cmd_envs}
    try:
        return handlers[args.command](args)
    except (UsageError, ConfigError, EnvError, LanguageModelError, CheckpointError, RunDirError) as err:
        print(f"helmrl {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except NonFiniteError as err:
        print(f"helmrl {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
