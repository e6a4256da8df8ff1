"""Stable-Baselines3's PPO with HELM's frozen memory: the history is part of the observation.

pip install -e '.[sb3]'
python examples/sb3_helm.py --env MiniGrid-KeyCorridorS3R1-v0 --total-steps 300000
"""

import argparse

from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

from helmrl import HistoryConfig
from helmrl.envs import make_env
from helmrl.integrations.sb3 import FrozenHistoryVecEnv, HELMExtractor

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--env", default="MiniGrid-KeyCorridorS3R1-v0", help="a helmrl env id (default: %(default)s)")
ap.add_argument("--total-steps", type=int, default=300_000, help="(default: %(default)s)")
ap.add_argument("--n-envs", type=int, default=16, help="(default: %(default)s)")
ap.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
ap.add_argument("--mem-len", type=int, default=512, help="LM memory slots per env (default: %(default)s)")
args = ap.parse_args()

# helmrl's wrappers (MiniGrid: 56x56x3 egocentric pixels); the memory resets with each episode.
venv = make_vec_env(lambda: make_env(args.env), n_envs=args.n_envs, seed=args.seed)
venv = FrozenHistoryVecEnv(venv, HistoryConfig(mem_len=args.mem_len, seed=args.seed))
venv = VecNormalize(VecMonitor(venv), norm_obs=False, norm_reward=True, clip_reward=1.0)  # the authors' setup

model = PPO(
    "MultiInputPolicy",
    venv,
    learning_rate=3e-4,  # the authors' HELM settings on KeyCorridor
    n_steps=32,
    batch_size=args.n_envs * 32 // 8,
    n_epochs=3,
    gamma=0.99,
    gae_lambda=0.99,
    ent_coef=0.05,
    max_grad_norm=0.5,
    policy_kwargs=dict(features_extractor_class=HELMExtractor, net_arch=dict(pi=[128], vf=[512])),
    seed=args.seed,
    verbose=1,
)
model.learn(args.total_steps)
