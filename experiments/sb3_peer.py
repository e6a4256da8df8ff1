"""Stable-Baselines3 PPO as an outside peer, logging helmrl's run-directory format.

* ``sb3-ppo``: PPO with SB3's CnnPolicy (NatureCNN, linear heads), as a plain-PPO reference.
* ``sb3-lstm``: sb3-contrib's RecurrentPPO with CnnLstmPolicy (NatureCNN, linear heads, and its
  defaults ``shared_lstm=False, enable_critic_lstm=True``: an LSTM(256) for the actor and another
  for the critic, where the authors' Impala-PPO shares one), at the preset's Impala-PPO settings
  (KeyCorridor: lr 5e-5, 64 rollout steps, entropy 0.05): an independent LSTM-PPO beside helmrl's
  ``lstm`` agent. Besides the critic's own LSTM it differs from the authors' design in SB3's
  output gains (0.01 on the logits, 1 on the value), linear heads without LayerNorm, Adam's eps
  1e-5, and minibatches of flattened steps, so it tells whether an outside recurrent PPO learns
  the task, not which of helmrl's choices matters.
* ``sb3-helm``: PPO with HELM's memory from helmrl.integrations.sb3 (FrozenHistoryVecEnv +
  HELMExtractor, heads [128] / [512]): an independent PPO over the same frozen history as
  helmrl's own ``helm`` agent, so the two trainers can be compared on equal terms.

``sb3-ppo`` and ``sb3-helm`` take the PPO numbers of a helmrl preset (default: KeyCorridor's
HELM settings: lr 3e-4, 32 rollout steps, entropy 0.05, 8 minibatches, 3 epochs, γ = λ = 0.99);
all three take the authors' reward normalisation (VecNormalize, returns' std, clipped to 1;
MiniGrid and Procgen only). The run
directory holds config.json and metrics.csv in helmrl's columns (helmrl.integrations.sb3's
MetricsCallback), so `helmrl plot` and the collect scripts read it; it resumes from its last chunk.

    .venv/bin/python experiments/sb3_peer.py --agent sb3-ppo --seed 0
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import tomllib
from pathlib import Path

import numpy as np
import torch

from helmrl.config import parse_override, preset
from helmrl.devices import describe_device
from helmrl.envs import default_reward_norm, make_env
from helmrl.sweep.runner import CELL_INFO


def drop_truncation(venv):
    """``venv`` wrapped so that SB3 treats a time-limit truncation as a termination, as helmrl and
    the authors' code do (gym 0.19 had only ``done``): SB3's PPO and RecurrentPPO add
    γ·V(final observation) to the last reward where an info says ``TimeLimit.truncated``; the
    wrapper removes that key."""
    from stable_baselines3.common.vec_env import VecEnvWrapper

    class DropTruncation(VecEnvWrapper):
        def reset(self):
            return self.venv.reset()

        def step_wait(self):
            obs, rewards, dones, infos = self.venv.step_wait()
            for info in infos:
                info.pop("TimeLimit.truncated", None)
            return obs, rewards, dones, infos

    return DropTruncation(venv)


def run(
    agent: str,
    seed: int,
    out: Path,
    preset_name: str,
    total_steps: int,
    chunk: int,
    overrides: dict | None = None,
    bootstrap_truncated: bool = True,
    encoder: str = "nature",
    eval_episodes: int = 0,
) -> Path:
    """Train (or resume) one peer run -> its run directory. ``encoder``: SB3's NatureCNN
    ("nature") or the authors' small CNN ("authors": their CNN-PPO's for sb3-ppo, their
    Impala-PPO's for sb3-lstm), which images under 36 px need; SB3's linear heads either way.
    ``eval_episodes`` > 0: the final policy's evaluation into cell.json, once."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor, VecNormalize

    from helmrl.integrations.sb3 import MetricsCallback, ppo_settings
    from helmrl.sweep.runner import ATTEMPTS, record_cell_info, source_commit

    own = "lstm" if agent == "sb3-lstm" else "helm"  # whose preset settings the peer takes
    # SB3 builds its own minibatches (batch_size samples, ppo_settings), so no segment count is recorded
    cfg = preset(preset_name, own).replace(seed=seed, total_steps=total_steps, **(overrides or {}))
    cfg = cfg.replace(segments_per_minibatch=0, encoder=encoder)
    if not bootstrap_truncated:
        cfg = cfg.replace(label=cfg.label or "no-bootstrap")
    run_dir = out / f"{cfg.env_id}-{agent}{'-' + cfg.label if cfg.label else ''}-s{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps({**cfg.to_dict(), "agent": agent}, indent=2) + "\n")
    venv = DummyVecEnv([lambda: make_env(cfg.env_id) for _ in range(cfg.n_envs)])
    venv.seed(seed)
    policy, kwargs, algo = "CnnPolicy", {}, PPO
    if agent == "sb3-lstm":
        from sb3_contrib import RecurrentPPO

        image = len(venv.observation_space.shape) == 3
        policy, algo = ("CnnLstmPolicy" if image else "MlpLstmPolicy"), RecurrentPPO
        kwargs = dict(lstm_hidden_size=256)
        if image and encoder == "authors":  # the authors' Impala-PPO encoder: scale 1, 256 features
            kwargs.update(small_cnn(features=256, channel_scale=1))
    elif agent == "sb3-helm":
        from helmrl.integrations.sb3 import FrozenHistoryVecEnv, HELMExtractor

        venv = FrozenHistoryVecEnv(venv, cfg.history)
        policy = "MultiInputPolicy"
        kwargs = dict(features_extractor_class=HELMExtractor, net_arch=dict(pi=[128], vf=[512]))
    elif len(venv.observation_space.shape) != 3:
        policy = "MlpPolicy"
    elif encoder == "authors":  # the authors' CNN-PPO encoder: scale 4, 1024 features
        kwargs = small_cnn(features=1024, channel_scale=4)
    venv = VecMonitor(venv)
    if not bootstrap_truncated:  # inside VecNormalize, which passes the infos on as they are
        venv = drop_truncation(venv)
    if default_reward_norm(cfg.env_id):
        venv = VecNormalize(venv, norm_obs=False, norm_reward=True, clip_reward=1.0, gamma=cfg.ppo.gamma)
    model_path, stats_path = run_dir / "sb3_model.zip", run_dir / "vecnormalize.pkl"
    if model_path.exists() and (run_dir / "metrics.csv").exists():
        if isinstance(venv, VecNormalize):
            venv = VecNormalize.load(str(stats_path), venv.venv)
        model = algo.load(model_path, env=venv)
    else:
        model = algo(
            policy,
            venv,
            # left: 1 -> 0 over the run
            learning_rate=(lambda left: cfg.ppo.lr * left) if cfg.ppo.anneal_lr else cfg.ppo.lr,
            **ppo_settings(cfg),
            policy_kwargs=kwargs or None,
            seed=seed,
            device="cpu",
            verbose=0,
        )

    logger = MetricsCallback(run_dir)  # metrics.csv in helmrl's columns; raw returns (VecMonitor)
    commit, t0 = source_commit(), time.perf_counter()
    if model.num_timesteps < cfg.total_steps:
        with open(run_dir / ATTEMPTS, "a") as fh:
            fh.write(
                f"{time.strftime('%Y-%m-%dT%H:%M:%S')} pid={os.getpid()} start step={model.num_timesteps} "
                f"commit={commit} host={platform.node()}\n"
            )
    while model.num_timesteps < cfg.total_steps:
        model.learn(
            min(chunk, cfg.total_steps - model.num_timesteps), callback=logger, reset_num_timesteps=False
        )
        model.save(model_path)
        if isinstance(venv, VecNormalize):  # model.get_env() may wrap it (VecTransposeImage)
            venv.save(str(stats_path))
    record_cell_info(run_dir, time.perf_counter() - t0, describe_device(torch.device("cpu")), commit)
    if eval_episodes and "eval" not in json.loads((run_dir / CELL_INFO).read_text()):
        record_evaluation(model, cfg, run_dir, eval_episodes)
    return run_dir


def small_cnn(features: int, channel_scale: int) -> dict:
    """policy_kwargs for the authors' small CNN under SB3's linear heads (CnnPolicy's net_arch)."""
    from helmrl.integrations.sb3 import SmallCNNExtractor

    return dict(
        features_extractor_class=SmallCNNExtractor,
        features_extractor_kwargs=dict(features=features, channel_scale=channel_scale),
        net_arch=[],
    )


def record_evaluation(model, cfg, run_dir: Path, episodes: int, seed: int = 12345) -> None:
    """SB3's ``evaluate_policy`` on fresh envs with raw rewards (a fixed quota of episodes per env),
    sampled and greedy, into cell.json's ``eval`` in helmrl's keys."""
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

    result = {"episodes": episodes}
    for mode, deterministic in (("sampled", False), ("greedy", True)):
        venv = VecMonitor(DummyVecEnv([lambda: make_env(cfg.env_id)] * min(episodes, cfg.n_envs)))
        venv.seed(seed)
        returns, _ = evaluate_policy(
            model, venv, n_eval_episodes=episodes, deterministic=deterministic, return_episode_rewards=True
        )
        venv.close()
        result[f"{mode}_mean"] = float(np.mean(returns))
        result[f"{mode}_returns"] = [round(float(r), 4) for r in returns]
    info = json.loads((run_dir / CELL_INFO).read_text())
    info["eval"] = result
    (run_dir / CELL_INFO).write_text(json.dumps(info) + "\n")


def cell_runs(spec_path: Path) -> dict[str, dict]:
    """A peer spec's cells, by run-directory name -> run()'s keyword arguments. The spec is TOML:
    name, runner = "sb3_peer", preset, agents, seeds, total_steps, and optionally encoder,
    eval_episodes, truncation_bootstrap and [overrides]."""
    data = tomllib.loads(spec_path.read_text())
    if data.get("runner") != "sb3_peer":
        raise SystemExit(f'error: {spec_path}: not an sb3_peer spec (runner = "sb3_peer")')
    cells = {}
    for seed in data["seeds"]:
        for agent in data["agents"]:
            kwargs = dict(
                agent=agent,
                seed=seed,
                preset_name=data["preset"],
                total_steps=data["total_steps"],
                overrides=dict(data.get("overrides", {})),
                bootstrap_truncated=data.get("truncation_bootstrap", True),
                encoder=data.get("encoder", "nature"),
                eval_episodes=data.get("eval_episodes", 0),
            )
            env_id = preset(data["preset"], "helm").env_id
            label = "" if kwargs["bootstrap_truncated"] else "-no-bootstrap"
            cells[f"{env_id}-{agent}{label}-s{seed}"] = kwargs
    return cells


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--agent", choices=["sb3-ppo", "sb3-lstm", "sb3-helm"], default="sb3-ppo", help="(default: sb3-ppo)"
    )
    ap.add_argument("--seed", type=int, default=0, help="(default: 0)")
    ap.add_argument(
        "--preset", default="keycorridor", help="helmrl preset for env and PPO numbers (default: keycorridor)"
    )
    ap.add_argument("--total-steps", type=int, default=300_000, help="(default: 300000)")
    ap.add_argument("--chunk", type=int, default=25_000, help="steps between saves (default: 25000)")
    ap.add_argument(
        "--out",
        type=Path,
        default=Path("benchmarks/results/cells/keycorridor-peers"),
        help="(default: %(default)s)",
    )
    ap.add_argument("--torch-threads", type=int, default=1, help="(default: 1)")
    ap.add_argument(
        "--no-truncation-bootstrap",
        action="store_true",
        help="treat time-limit truncations as terminations, as helmrl and the authors' code do; the "
        "run's label is no-bootstrap (default: SB3's bootstrap of truncated episodes)",
    )
    ap.add_argument(
        "--set", nargs="*", default=[], metavar="FIELD=VALUE", help="config overrides (default: none)"
    )
    ap.add_argument(
        "--encoder",
        choices=["nature", "authors"],
        default="nature",
        help="SB3's NatureCNN, or the authors' small CNN for images under 36 px (default: nature)",
    )
    ap.add_argument(
        "--eval-episodes",
        type=int,
        default=0,
        help="final-policy evaluation episodes into cell.json (default: 0)",
    )
    ap.add_argument(
        "--spec", type=Path, help='a peer spec (TOML, runner = "sb3_peer"); with --cell or --list'
    )
    ap.add_argument("--cell", help="with --spec: run this cell of it (its run directory's name)")
    ap.add_argument("--list", action="store_true", help="with --spec: print its cells' names")
    args = ap.parse_args()
    torch.set_num_threads(args.torch_threads)

    if args.spec:
        cells = cell_runs(args.spec)
        if args.list or not args.cell:
            print("\n".join(cells))
            return
        if args.cell not in cells:
            ap.error(f"--cell {args.cell}: not a cell of {args.spec}; --list prints them")
        print(run(out=args.out, chunk=args.chunk, **cells[args.cell]))
        return
    overrides = dict(parse_override(kv) for kv in args.set)
    runs = (args.agent, args.seed, args.out, args.preset, args.total_steps, args.chunk, overrides)
    print(
        run(
            *runs,
            bootstrap_truncated=not args.no_truncation_bootstrap,
            encoder=args.encoder,
            eval_episodes=args.eval_episodes,
        )
    )


if __name__ == "__main__":
    main()
