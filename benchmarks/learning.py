"""Learning benchmark: HELM vs Impala-PPO (lstm) vs CNN-PPO (cnn) vs sb3-contrib's RecurrentPPO.

    .venv/bin/python benchmarks/learning.py --list                  # the grid and each cell's state
    .venv/bin/python benchmarks/learning.py --cell helm:keycorridor:0  # run (or resume) one cell
    .venv/bin/python benchmarks/learning.py --all                   # every unfinished cell, in order
    .venv/bin/python benchmarks/learning.py --summary               # IQM table + curves PNG

Cells are helmrl run directories under benchmarks/results/learning/, so an interrupted cell
resumes from its checkpoint and the grid can be filled in over several sittings. The peer
(`sb3`) needs `pip install sb3-contrib`; it runs on the same env wrappers and step budget.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import deque
from pathlib import Path

from helmrl.config import TrainConfig, preset

ROOT = Path(__file__).parent / "results" / "learning"
ENVS = {"keycorridor": ("keycorridor", 300_000), "randommaze": ("randommaze", 500_000)}
AGENTS = ("helm", "lstm", "cnn", "sb3")
SEEDS = (0, 1, 2)


def cell_dir(agent: str, env: str, seed: int) -> Path:
    return ROOT / env / f"{agent}-s{seed}"


def cell_config(agent: str, env: str, seed: int) -> TrainConfig:
    name, steps = ENVS[env]
    return preset(name).replace(agent=agent if agent != "sb3" else "cnn", seed=seed, total_steps=steps)


def cell_state(agent: str, env: str, seed: int) -> str:
    d = cell_dir(agent, env, seed)
    if not (d / "metrics.csv").exists():
        return "todo"
    with open(d / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    done = rows and int(rows[-1]["step"]) >= cell_config(agent, env, seed).total_steps
    return "done" if done else f"partial ({rows[-1]['step'] if rows else 0} steps)"


def run_helmrl_cell(agent: str, env: str, seed: int) -> None:
    from helmrl.runs import prepare_run, resume_run

    d = cell_dir(agent, env, seed)
    if (d / "checkpoint.pt").exists():
        trainer, _ = resume_run(d, {}, progress=True)
        trainer.train(resume=True)
    else:
        trainer = prepare_run(cell_config(agent, env, seed), d, overwrite=d.exists(), progress=True)
        trainer.train()


def run_sb3_cell(env: str, seed: int, chunk: int = 50_000) -> None:
    """RecurrentPPO with sb3-contrib's defaults for its LSTM policy, the authors' PPO numbers where
    they map (n_envs, n_steps, γ, λ, clip, entropy, lr), logging helmrl's metrics.csv columns."""
    try:
        from sb3_contrib import RecurrentPPO
        from stable_baselines3.common.callbacks import BaseCallback
        from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor
    except ImportError:
        sys.exit("the sb3 peer needs sb3-contrib: .venv/bin/pip install sb3-contrib")
    from helmrl.envs import make_env

    cfg = cell_config("sb3", env, seed)
    d = cell_dir("sb3", env, seed)
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_text(json.dumps({**cfg.to_dict(), "agent": "sb3-recurrentppo"}, indent=2))
    venv = VecMonitor(DummyVecEnv([lambda: make_env(cfg.env_id) for _ in range(cfg.n_envs)]))
    policy = "CnnLstmPolicy" if min(venv.observation_space.shape[:2]) >= 36 else "MlpLstmPolicy"
    model_path = d / "sb3_model.zip"
    metrics = d / "metrics.csv"
    done_steps = 0
    if model_path.exists() and metrics.exists():
        model = RecurrentPPO.load(model_path, env=venv)
        done_steps = model.num_timesteps
    else:
        model = RecurrentPPO(
            policy,
            venv,
            learning_rate=cfg.lr,
            n_steps=cfg.rollout_steps,
            batch_size=cfg.batch_size // cfg.n_minibatches,
            n_epochs=cfg.epochs,
            gamma=cfg.gamma,
            gae_lambda=cfg.gae_lambda,
            clip_range=cfg.clip_coef,
            ent_coef=cfg.ent_coef,
            vf_coef=cfg.vf_coef,
            max_grad_norm=cfg.max_grad_norm,
            seed=seed,
            verbose=0,
        )
        with open(metrics, "w", newline="") as fh:
            csv.writer(fh).writerow(
                ["update", "step", "episode_return_mean", "episode_length_mean", "fps", "time_s"]
            )

    class Log(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.returns: deque[float] = deque(maxlen=100)
            self.lengths: deque[int] = deque(maxlen=100)
            self.t0, self.s0 = time.perf_counter(), done_steps

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    self.returns.append(info["episode"]["r"])
                    self.lengths.append(info["episode"]["l"])
            return True

        def _on_rollout_end(self) -> None:
            elapsed = time.perf_counter() - self.t0
            mean = lambda xs: f"{sum(xs) / len(xs):.6f}" if xs else ""  # noqa: E731
            with open(metrics, "a", newline="") as fh:
                csv.writer(fh).writerow(
                    [
                        self.model._n_updates,
                        self.num_timesteps,
                        mean(self.returns),
                        mean(self.lengths),
                        f"{(self.num_timesteps - self.s0) / elapsed:.2f}",
                        f"{elapsed:.2f}",
                    ]
                )

    while model.num_timesteps < cfg.total_steps:
        model.learn(
            min(chunk, cfg.total_steps - model.num_timesteps), callback=Log(), reset_num_timesteps=False
        )
        model.save(model_path)


def summary() -> None:
    from helmrl.analysis.curves import plot_runs

    for env in ENVS:
        dirs = [cell_dir(a, env, s) for a in AGENTS for s in SEEDS if cell_state(a, env, s) == "done"]
        if not dirs:
            print(f"{env}: no finished cells yet")
            continue
        res = plot_runs(dirs, ROOT / f"{env}_curves.png")
        print(f"{env}: {res['png']}")
        for r in res["summary"]:
            walls = []
            for d in r["run_dirs"].split():
                with open(Path(d) / "metrics.csv") as fh:
                    walls.append(float(list(csv.DictReader(fh))[-1].get("time_s") or "nan"))
            print(
                f"  {r['agent']:18s} n={r['runs']}  final IQM {r['final_iqm']:.3f} "
                f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]  wall/run {sum(walls) / len(walls) / 60:.1f} min"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--cell", help="agent:env:seed, e.g. helm:keycorridor:0")
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--summary", action="store_true")
    args = ap.parse_args()
    cells = [(a, e, s) for e in ENVS for a in AGENTS for s in SEEDS]
    if args.list:
        for a, e, s in cells:
            print(f"{a}:{e}:{s:<3d} {cell_state(a, e, s)}")
    todo = []
    if args.cell:
        a, e, s = args.cell.split(":")
        if a not in AGENTS or e not in ENVS:
            sys.exit(f"--cell {args.cell}: agent in {AGENTS}, env in {tuple(ENVS)}")
        todo = [(a, e, int(s))]
    elif args.all:
        todo = [c for c in cells if cell_state(*c) != "done"]
    for a, e, s in todo:
        print(f"== {a}:{e}:{s}", flush=True)
        run_sb3_cell(e, s) if a == "sb3" else run_helmrl_cell(a, e, s)
    if args.summary:
        summary()


if __name__ == "__main__":
    main()
