"""Memory works end to end on CueMemory-v0 (recall a cue two steps back): HELM with the default
frozen LM and the LSTM learn it; the Markovian CNN agent cannot beat chance (0.5).

Host-independent by design. A learning trajectory is chaotic: different GEMM kernels (AVX2,
AVX-512, AMX), thread counts or bf16 against fp32 send the same seed down different paths. The
same seed that reaches 1.0 on one host stays at chance (~0.52) on another, for HELM and for the
LSTM alike (``experiments/learning_test_spread.py`` runs these exact configs over more seeds,
with the kernels capped to AVX2 or not and 1 or 2 threads; docs/usage.md has the table). So a
claim about one seed is a claim about one host. Here the frozen part runs in fp32 everywhere and
the claims are the ones that held on every host measured: on at least one of three seeds HELM
ends well above chance (>= 0.7) and the LSTM solves the task (>= 0.85), while the memoryless
CNN stays at chance on all three. The CNN's bound is a property, not a tuned number: a
memoryless policy earns 0.5.
"""

import numpy as np
import pytest

from helmrl.config import TrainConfig, preset
from helmrl.ppo.trainer import Trainer

pytestmark = pytest.mark.slow  # learning runs with the real LM

# agent -> (updates, bar): mean return over the last 128 episodes >= bar (chance: 0.5 ± 0.044)
LEARNS = {"helm": (16, 0.7), "lstm": (30, 0.85)}
CNN_UPDATES, CNN_CEILING = 12, 0.7  # a memoryless policy cannot beat 0.5 at any length
SEEDS = (0, 1, 2)
# The same three seeds; HELM's seed 2 is tried first: it passed on every host and thread count in
# docs/usage.md's table and on an AVX2-only EPYC (0.945), so such a host trains one HELM seed. No
# LSTM seed passed everywhere (seed 1: 0.99-1.00 there, 0.46 on that EPYC), so it keeps the order.
TRY_FIRST = {"helm": 2, "lstm": 0}


def learning_check_config(agent: str, seed: int, updates: int) -> TrainConfig:
    """The demo's PPO settings (β = 1000) on CueMemory-v0, short, constant lr, fp32 frozen part."""
    return preset("demo", agent).replace(
        env_id="CueMemory-v0",
        seed=seed,
        total_steps=8 * 24 * updates,
        log_window=128,  # the last ~two updates' episodes
        frozen_dtype="float32",
        anneal_lr=False,  # the configuration whose spread across hosts was measured
        torch_threads=1,
    )


def final_return(cfg: TrainConfig, run_dir) -> float:
    trainer = Trainer.from_config(cfg.validate(), run_dir, progress=False, log=lambda *_: None)
    trainer.train()
    return float(np.mean(trainer.episodes.returns))


@pytest.mark.parametrize("agent", sorted(LEARNS))
def test_memory_agents_learn_the_cue_task_on_some_seed(agent, tmp_path):
    updates, bar = LEARNS[agent]
    returns = []
    for seed in sorted(SEEDS, key=lambda s: s != TRY_FIRST[agent]):
        returns.append(final_return(learning_check_config(agent, seed, updates), tmp_path / str(seed)))
        if returns[-1] >= bar:
            break  # shown: no need to train the other seeds
    assert max(returns) >= bar, f"{agent}: returns {np.round(returns, 3)} (bar {bar})"


def test_the_memoryless_cnn_stays_at_chance(tmp_path):
    returns = [final_return(learning_check_config("cnn", s, CNN_UPDATES), tmp_path / str(s)) for s in SEEDS]
    assert max(returns) <= CNN_CEILING, f"cnn: returns {np.round(returns, 3)}"
    assert min(returns) >= 0.3, f"cnn: returns {np.round(returns, 3)} (below chance: something is broken)"
