"""Memory works end to end: the LSTM learns a cue it must remember; the CNN agent cannot."""

import numpy as np
import pytest

from helmrl.config import TrainConfig
from helmrl.ppo import Trainer


def _final_return(agent: str, tmp_path) -> float:
    cfg = TrainConfig(
        env_id="CueMemory-v0",
        agent=agent,
        n_envs=8,
        rollout_steps=24,
        n_minibatches=4,
        epochs=4,
        torch_threads=1,
        total_steps=8 * 24 * 30,
        lr=2e-3,
        ent_coef=0.01,
        gamma=0.9,
        gae_lambda=0.95,
        log_window=200,
        checkpoint_every=1000,
        seed=1,
    ).validate()
    trainer = Trainer(cfg, tmp_path, progress=False)
    trainer.train()
    return float(np.mean(trainer.recent_returns))


@pytest.mark.parametrize("agent,lo,hi", [("lstm", 0.9, 1.01), ("cnn", 0.3, 0.7)])
def test_only_the_memory_agent_solves_the_cue_task(agent, lo, hi, tmp_path):
    ret = _final_return(agent, tmp_path)
    assert lo <= ret <= hi, f"{agent}: mean return {ret:.3f} over the last 200 episodes"
