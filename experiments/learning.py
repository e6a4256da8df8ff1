"""The outside peer of the evidence grid: sb3-contrib's RecurrentPPO on helmrl's env wrappers.

    .venv/bin/pip install sb3-contrib
    .venv/bin/python experiments/learning.py --env keycorridor --seed 0   # resumable

Writes an ordinary-looking cell `sweeps/<env>/<EnvId>-sb3-recurrentppo-s<seed>/` (config.json,
metrics.csv in helmrl's columns from helmrl.integrations.sb3.MetricsCallback, cell.json with the
wall time) beside the helmrl sweep's cells, so `experiments/collect_learning.py` and `helmrl plot`
include it. helmrl's own agents run with `helmrl sweep benchmarks/sweeps/<env>.toml`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from helmrl.config import TrainConfig, preset

ENVS = {"keycorridor": ("keycorridor", 300_000), "randommaze": ("randommaze", 500_000)}


def cell_config(env: str, seed: int) -> TrainConfig:
    name, steps = ENVS[env]
    return preset(name).replace(agent="cnn", seed=seed, total_steps=steps, n_envs=16)


def cell_dir(env: str, seed: int, root: Path = Path("sweeps")) -> Path:
    return root / env / f"{cell_config(env, seed).env_id}-sb3-recurrentppo-s{seed}"


def run_sb3_cell(
    env: str, seed: int, chunk: int = 50_000, root: Path = Path("sweeps"), device: str = "auto"
) -> None:
    """RecurrentPPO with sb3-contrib's defaults for its LSTM policy, the authors' PPO numbers where
    they map (n_envs, n_steps, γ, λ, clip, entropy, lr), logging helmrl's metrics.csv columns."""
    try:
        from sb3_contrib import RecurrentPPO
        from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor
    except ImportError:
        sys.exit("the sb3 peer needs sb3-contrib: .venv/bin/pip install sb3-contrib")
    from helmrl.envs import make_env
    from helmrl.integrations.sb3 import MetricsCallback, ppo_settings

    cfg = cell_config(env, seed)
    d = cell_dir(env, seed, root)
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_text(json.dumps({**cfg.to_dict(), "agent": "sb3-recurrentppo"}, indent=2))
    venv = VecMonitor(DummyVecEnv([lambda: make_env(cfg.env_id) for _ in range(cfg.n_envs)]))
    policy = "CnnLstmPolicy" if min(venv.observation_space.shape[:2]) >= 36 else "MlpLstmPolicy"
    model_path = d / "sb3_model.zip"
    if model_path.exists() and (d / "metrics.csv").exists():
        model = RecurrentPPO.load(model_path, env=venv, device=device)
    else:
        model = RecurrentPPO(
            policy,
            venv,
            learning_rate=cfg.ppo.lr,
            **ppo_settings(cfg),
            seed=seed,
            device=device,
            verbose=0,
        )

    logger = MetricsCallback(d)  # metrics.csv in helmrl's columns; one logger for every chunk
    t0 = time.perf_counter()
    while model.num_timesteps < cfg.total_steps:
        model.learn(
            min(chunk, cfg.total_steps - model.num_timesteps), callback=logger, reset_num_timesteps=False
        )
        model.save(model_path)
        info = json.loads((d / "cell.json").read_text()) if (d / "cell.json").exists() else {}
        info["wall_s"] = info.get("wall_s", 0.0) + time.perf_counter() - t0
        t0 = time.perf_counter()
        (d / "cell.json").write_text(json.dumps(info) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--env", choices=sorted(ENVS), default="keycorridor", help="the evidence grid's env")
    ap.add_argument("--seed", type=int, default=0, help="the cell's seed")
    ap.add_argument("--out", type=Path, default=Path("sweeps"), help="cells go to OUT/<env>/")
    ap.add_argument("--device", default="auto", help="torch device for SB3 (auto, cpu, cuda)")
    ap.add_argument("--torch-threads", type=int, default=0, help="0 = torch's default")
    args = ap.parse_args()
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    run_sb3_cell(args.env, args.seed, root=args.out, device=args.device)
    print(f"done: {cell_dir(args.env, args.seed, args.out)}")


if __name__ == "__main__":
    main()
