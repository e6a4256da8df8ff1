"""Memory works end to end on CueMemory-v0 (recall a cue two steps back): HELM with the
default frozen LM and the LSTM learn it; the Markovian CNN agent cannot beat chance (0.5)."""

import numpy as np
import pytest

from helmrl.config import TrainConfig
from helmrl.ppo import Trainer

pytestmark = pytest.mark.slow  # the real LM / learning runs


def _final_return(agent: str, tmp_path, updates: int, seed: int) -> float:
    cfg = TrainConfig(
        env_id="CueMemory-v0",
        agent=agent,
        n_envs=8,
        rollout_steps=24,
        n_minibatches=4,
        epochs=4,
        torch_threads=1,
        total_steps=8 * 24 * updates,
        lr=2e-3,
        ent_coef=0.01,
        gamma=0.9,
        gae_lambda=0.95,
        log_window=128,  # the last two updates' episodes
        mem_len=16,
        n_sink=2,
        seed=seed,
    ).validate()
    trainer = Trainer(cfg, tmp_path, progress=False)
    trainer.train()
    return float(np.mean(trainer.recent_returns))


@pytest.mark.parametrize(
    "agent,updates,seed,lo,hi",
    [("helm", 16, 0, 0.85, 1.01), ("lstm", 30, 3, 0.85, 1.01), ("cnn", 30, 2, 0.3, 0.7)],
)
def test_memory_agents_solve_the_cue_task_the_cnn_does_not(agent, updates, seed, lo, hi, tmp_path):
    ret = _final_return(agent, tmp_path, updates, seed)
    assert lo <= ret <= hi, f"{agent}: mean return {ret:.3f} over the last 128 episodes"
