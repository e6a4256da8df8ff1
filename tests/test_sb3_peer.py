"""experiments/sb3_peer.py on a short CueRecall run: each peer writes helmrl's run-directory
format, takes the PPO numbers of its own agent's preset, and resumes from its last save."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from .conftest import load_script

pytest.importorskip("stable_baselines3")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def peer():
    return load_script("experiments/sb3_peer.py")


def rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize(("agent", "lr"), [("sb3-ppo", 3e-4), ("sb3-lstm", 5e-5)])
def test_each_peer_takes_its_agents_settings_and_resumes(peer, tmp_path, agent, lr) -> None:
    if agent == "sb3-lstm":
        pytest.importorskip("sb3_contrib")
    # the keycorridor preset's PPO numbers on a vector task, so the run takes seconds
    settings = {"env_id": "CueRecall-v0", "n_envs": 2, "rollout_steps": 16, "n_minibatches": 2}
    run = peer.run(agent, 0, tmp_path, "keycorridor", 64, 32, settings)
    cfg = json.loads((run / "config.json").read_text())
    assert (cfg["agent"], cfg["lr"], cfg["rollout_steps"]) == (agent, lr, 16)
    first = rows(run)
    assert [int(r["step"]) for r in first] == [32, 64]
    assert float(first[0]["entropy"]) > 0
    assert json.loads((run / "cell.json").read_text())["wall_s"] > 0
    peer.run(agent, 0, tmp_path, "keycorridor", 96, 32, settings)  # 32 steps more, from the save
    assert [int(r["step"]) for r in rows(run)] == [32, 64, 96]


def test_without_the_truncation_bootstrap_sb3_sees_no_truncation(peer, tmp_path) -> None:
    import gymnasium as gym
    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

    def make():
        return gym.make("CartPole-v1", max_episode_steps=3)

    def truncated_infos(venv) -> list[bool]:
        venv.reset()
        for _ in range(3):  # the third step hits the time limit (CartPole does not fall in 3 steps)
            _, _, dones, infos = venv.step([0])
        assert dones.all()
        return [info.get("TimeLimit.truncated", False) for info in infos]

    assert truncated_infos(VecMonitor(DummyVecEnv([make]))) == [True]
    assert truncated_infos(peer.drop_truncation(VecMonitor(DummyVecEnv([make])))) == [False]
    settings = {"env_id": "CueRecall-v0", "n_envs": 2, "rollout_steps": 16, "n_minibatches": 2}
    run = peer.run("sb3-ppo", 0, tmp_path, "keycorridor", 32, 32, settings, bootstrap_truncated=False)
    assert run.name.endswith("-sb3-ppo-no-bootstrap-s0")
    assert json.loads((run / "config.json").read_text())["label"] == "no-bootstrap"


@pytest.mark.parametrize("agent", ["sb3-ppo", "sb3-lstm"])
def test_a_randommaze_peer_runs_the_authors_small_cnn_and_records_its_evaluation(
    peer, tmp_path, agent
) -> None:
    if agent == "sb3-lstm":
        pytest.importorskip("sb3_contrib")
    from helmrl.integrations.sb3 import SmallCNNExtractor

    settings = {"n_envs": 2, "rollout_steps": 16, "n_minibatches": 2}
    run = peer.run(agent, 0, tmp_path, "randommaze", 32, 32, settings, encoder="authors", eval_episodes=4)
    cfg = json.loads((run / "config.json").read_text())
    assert (cfg["env_id"], cfg["encoder"]) == ("RandomMaze-v0", "authors")
    from stable_baselines3 import PPO

    if agent == "sb3-ppo":
        model = PPO.load(run / "sb3_model.zip", device="cpu")
        extractor = model.policy.features_extractor
        assert isinstance(extractor, SmallCNNExtractor) and extractor.features_dim == 1024
        assert model.policy.action_net.in_features == 1024  # SB3's linear heads on the features
    info = json.loads((run / "cell.json").read_text())
    assert info["eval"]["episodes"] == 4
    for mode in ("sampled", "greedy"):
        returns = info["eval"][f"{mode}_returns"]
        # RandomMaze: at most 100 steps, each -0.01 or -1, or +1 at the goal
        assert len(returns) == 4 and all(-100.0 <= r <= 1.0 for r in returns)
    assert "commit=" in (run / "attempts.log").read_text()
    assert info["versions"]["stable_baselines3"]


def test_a_peer_spec_lists_its_cells(peer, tmp_path) -> None:
    cells = peer.cell_runs(ROOT / "benchmarks" / "sweeps" / "randommaze-peers.toml")
    assert len(cells) == 10 and cells["RandomMaze-v0-sb3-lstm-s4"]["encoder"] == "authors"
    assert cells["RandomMaze-v0-sb3-ppo-s0"]["total_steps"] == 2_000_000
