"""Runs survive kills, resume exactly, refuse bad files and bad config, and stop on NaN."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from helmrl.cli import main
from helmrl.config import ConfigError, TrainConfig
from helmrl.ppo import CheckpointError, NonFiniteError, Trainer, load_checkpoint, save_checkpoint

VOLATILE = {"fps", "time_s"}


def _args(run_dir: Path, agent: str, lm_dir: Path) -> list[str]:
    return [
        "train",
        "--env",
        "CartPole-v1",
        "--agent",
        agent,
        "--lm",
        str(lm_dir),
        "--n-envs",
        "4",
        "--rollout-steps",
        "16",
        "--n-minibatches",
        "4",
        "--total-steps",
        str(4 * 16 * 12),
        "--checkpoint-every",
        "3",
        "--reward-norm",
        "on",
        "--mem-len",
        "8",
        "--seed",
        "7",
        "--run-dir",
        str(run_dir),
        "--no-progress",
    ]


def _metrics(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return [{k: v for k, v in r.items() if k not in VOLATILE} for r in csv.DictReader(fh)]


def _rows(run_dir: Path) -> int:
    try:
        return len(_metrics(run_dir))
    except (FileNotFoundError, KeyError):
        return 0


@pytest.mark.parametrize("agent", ["cnn", "lstm", "helm"])
def test_sigkill_then_resume_gives_the_metrics_of_an_unbroken_run(agent, tmp_path, tiny_llama_dir):
    unbroken, broken = tmp_path / "unbroken", tmp_path / "broken"
    assert main(_args(unbroken, agent, tiny_llama_dir)) == 0

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "helmrl.cli", *_args(broken, agent, tiny_llama_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while _rows(broken) < 5 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # somewhere in update 6's rollout or update
    proc.wait()
    assert _rows(broken) < 12, "the run finished before it could be killed"
    assert load_checkpoint(broken / "checkpoint.pt")["update"] in (3, 6)

    assert main(["train", "--resume", str(broken), "--no-progress"]) == 0
    assert _metrics(broken) == _metrics(unbroken)


def test_same_seed_same_metrics(tmp_path, tiny_llama_dir):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(_args(a, "lstm", tiny_llama_dir)) == 0
    assert main(_args(b, "lstm", tiny_llama_dir)) == 0
    assert _metrics(a) == _metrics(b)
    assert len({r["episode_return_mean"] for r in _metrics(a)}) > 1  # it did change over training


def test_a_failed_save_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint({"update": 1, "w": torch.ones(3)}, path)

    def dying_save(obj, fh, *a, **k):
        fh.write(b"half a checkpoint")
        raise OSError("killed mid-save")

    monkeypatch.setattr("helmrl.ppo.checkpoint.torch.save", dying_save)
    with pytest.raises(OSError):
        save_checkpoint({"update": 2, "w": torch.zeros(3)}, path)
    state = load_checkpoint(path)
    assert state["update"] == 1 and torch.equal(state["w"], torch.ones(3))


_SAVER = """
import sys, torch
from helmrl.ppo import save_checkpoint
big = torch.randn(4_000_000)
i = 0
while True:
    i += 1
    save_checkpoint({"update": i, "w": big}, sys.argv[1])
    print(i, flush=True)
"""


def test_sigkill_during_saves_never_leaves_a_corrupt_checkpoint(tmp_path):
    path = tmp_path / "checkpoint.pt"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    for delay in (0.9, 1.3, 1.7):
        proc = subprocess.Popen(
            [sys.executable, "-c", _SAVER, str(path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        proc.stdout.readline()  # one full save done
        time.sleep(delay - 0.8)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = load_checkpoint(path)
        assert state["w"].shape == (4_000_000,) and state["update"] >= 1


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {_Evil.marker}",))


def test_checkpoint_holding_a_pickled_object_is_refused_without_running_it(tmp_path, capsys):
    _Evil.marker = tmp_path / "pwned"
    run = tmp_path / "run"
    run.mkdir()
    TrainConfig(agent="cnn").save(run / "config.json")
    torch.save({"format": 1, "agent": _Evil()}, run / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(run / "checkpoint.pt")
    assert main(["eval", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "refused" in err
    assert not _Evil.marker.exists()


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"\x00not a zip at all")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "checkpoint.pt")


BAD_FIELDS = [
    ("agent", "gru"),
    ("seed", 1.5),
    ("total_steps", -1),
    ("n_envs", 0),
    ("lm", 3),
    ("beta", float("nan")),
    ("beta", 0.0),
    ("similarity", "l2"),
    ("mem_len", 0),
    ("n_sink", -1),
    ("frozen_dtype", "float16"),
    ("hopfield_cache", -2),
    ("memory_impl", "flash"),
    ("lr", 0.0),
    ("rollout_steps", 0),
    ("n_minibatches", 0),
    ("n_minibatches", 5),
    ("epochs", 0),
    ("gamma", 1.5),
    ("gae_lambda", -0.1),
    ("clip_coef", 0.0),
    ("ent_coef", -0.01),
    ("vf_coef", -1.0),
    ("max_grad_norm", 0.0),
    ("weight_decay", -1.0),
    ("norm_adv", "yes"),
    ("reward_norm", "maybe"),
    ("checkpoint_every", 0),
    ("log_window", 0),
    ("torch_threads", -1),
]


@pytest.mark.parametrize("name,value", BAD_FIELDS)
def test_each_invalid_field_is_refused_with_its_name(name, value):
    with pytest.raises(ConfigError) as err:
        TrainConfig(**{name: value}).validate()
    assert str(err.value).startswith(f"{name}=")


def test_every_field_is_covered_by_the_validation_test():
    from dataclasses import fields

    assert {f.name for f in fields(TrainConfig)} - {"env_id"} <= {n for n, _ in BAD_FIELDS}


def _cartpole_cnn(tmp_path, updates: int, checkpoint_every: int) -> tuple[TrainConfig, Trainer]:
    cfg = TrainConfig(
        env_id="CartPole-v1",
        agent="cnn",
        n_envs=2,
        rollout_steps=8,
        n_minibatches=2,
        total_steps=2 * 8 * updates,
        checkpoint_every=checkpoint_every,
    ).validate()
    return cfg, Trainer(cfg, tmp_path, progress=False)


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    _, trainer = _cartpole_cnn(tmp_path, updates=5, checkpoint_every=1)
    import helmrl.ppo.trainer as tr

    real = tr.ppo_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        loss, stats, terms = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] > 2 * 3 * 2:  # the 3rd update (3 epochs x 2 minibatches per update)
            terms["value"] = terms["value"] * float("nan")
        return loss, stats, terms

    monkeypatch.setattr(tr, "ppo_loss", poisoned)
    with pytest.raises(NonFiniteError, match="non-finite value at update 3"):
        trainer.train()
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["update"] == 2
    assert all(torch.isfinite(v).all() for v in state["agent"].values())


def test_ctrl_c_saves_a_checkpoint_that_resumes(tmp_path, monkeypatch):
    cfg, trainer = _cartpole_cnn(tmp_path, updates=4, checkpoint_every=100)
    real, calls = trainer.collect_rollout, {"n": 0}

    def interrupted_third_time():
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real()

    monkeypatch.setattr(trainer, "collect_rollout", interrupted_third_time)
    result = trainer.train()
    assert result.interrupted and result.global_step == 2 * 8 * 2
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["update"] == 2 and state["global_step"] == 32
    resumed = Trainer(cfg, tmp_path, progress=False).train(resume=True)
    assert not resumed.interrupted and resumed.global_step == 64
