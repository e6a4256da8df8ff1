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
from helmrl.errors import CheckpointError, NonFiniteError
from helmrl.ppo.checkpoint import load_checkpoint, save_checkpoint
from helmrl.ppo.trainer import Trainer

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
        # One thread: two runs compared bit for bit must reduce in the same order. At 2 threads
        # on a busy machine MKL may pick its own thread count per call (MKL_DYNAMIC).
        "--torch-threads",
        "1",
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


# The child trains as `helmrl train` does, but stops still right after update KILL_AFTER has written
# its metrics row and tells the test so on stdout: the SIGKILL then lands at a known point
# (after the checkpoint of update 3, before that of update 6) instead of after a sleep.
KILL_AFTER = 5
_PARKED_TRAINER = f"""
import sys, time
import helmrl.ppo.trainer as tr
real = tr.append_metrics
def parked(path, row):
    real(path, row)
    if row["update"] == {KILL_AFTER}:
        print("parked", flush=True)
        time.sleep(600)
tr.append_metrics = parked
from helmrl.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}


@pytest.mark.slow
@pytest.mark.parametrize("agent", ["cnn", "lstm", "helm"])
def test_sigkill_loses_at_most_one_checkpoint_interval(agent, tmp_path, tiny_llama_dir):
    unbroken, broken = tmp_path / "unbroken", tmp_path / "broken"
    assert main(_args(unbroken, agent, tiny_llama_dir)) == 0

    proc = subprocess.Popen(
        [sys.executable, "-c", _PARKED_TRAINER, *_args(broken, agent, tiny_llama_dir)],
        env=_child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout.readline().strip() == "parked", "the child exited before update 5"
    proc.send_signal(signal.SIGKILL)  # after update 5's metrics row, before update 6
    proc.wait()
    assert _rows(broken) == KILL_AFTER
    saved = load_checkpoint(broken / "checkpoint.pt")["update"]
    assert saved == 3  # checkpoint_every=3: updates 4 and 5 are lost, no more

    assert main(["train", "--resume", str(broken), "--no-progress"]) == 0
    resumed, reference = _metrics(broken), _metrics(unbroken)
    assert [r["update"] for r in resumed] == [str(u) for u in range(1, 13)]
    assert resumed[:saved] == reference[:saved]  # what was checkpointed is kept as it was
    assert resumed[-1]["step"] == reference[-1]["step"]


@pytest.mark.slow
@pytest.mark.parametrize("agent", ["cnn", "lstm", "helm"])
def test_checkpoint_every_does_not_change_learning(agent, tmp_path, tiny_llama_dir):
    a, b = tmp_path / "every1", tmp_path / "every1000"
    assert main(_args(a, agent, tiny_llama_dir) + ["--checkpoint-every", "1"]) == 0
    assert main(_args(b, agent, tiny_llama_dir) + ["--checkpoint-every", "1000"]) == 0
    assert _metrics(a) == _metrics(b)
    assert len({r["episode_return_mean"] for r in _metrics(a)}) > 1  # it did change over training


def _tensors(tree, prefix=""):
    """Every tensor (and plain number) in a nested state, by path."""
    if isinstance(tree, torch.Tensor):
        return {prefix: tree}
    if isinstance(tree, dict):
        out = {}
        for k, v in tree.items():
            out.update(_tensors(v, f"{prefix}/{k}"))
        return out
    if isinstance(tree, list | tuple):
        out = {}
        for i, v in enumerate(tree):
            out.update(_tensors(v, f"{prefix}/{i}"))
        return out
    return {prefix: tree}


@pytest.mark.parametrize("agent", ["lstm", "helm"])
def test_resume_restores_every_tensor_of_the_learner_bit_exactly(agent, tmp_path, tiny_llama_dir):
    cfg = TrainConfig(
        env_id="CartPole-v1",
        agent=agent,
        lm=str(tiny_llama_dir),
        n_envs=2,
        rollout_steps=8,
        total_steps=2 * 8 * 3,
        reward_norm="on",
        mem_len=8,
        n_sink=2,
        seed=3,
    ).validate()
    trained = Trainer.from_config(cfg, tmp_path, progress=False)
    trained.train()
    before = _tensors(trained.state_dict())
    assert any("exp_avg" in k for k in before) and any(k.startswith("/reward_scaler") for k in before)
    fresh = Trainer.from_config(cfg.replace(seed=3), tmp_path / "other", progress=False)
    fresh.load_state_dict(load_checkpoint(tmp_path / "checkpoint.pt"))
    after = _tensors(fresh.state_dict())
    assert before.keys() == after.keys()
    for k, v in before.items():
        if isinstance(v, torch.Tensor):
            assert torch.equal(v, after[k]), k
        else:
            assert v == after[k], k


@pytest.mark.slow
def test_same_seed_same_metrics(tmp_path, tiny_llama_dir):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(_args(a, "lstm", tiny_llama_dir)) == 0
    assert main(_args(b, "lstm", tiny_llama_dir)) == 0
    assert _metrics(a) == _metrics(b)


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


# The child saves update 1 whole, then saves update 2 but stops still at a chosen point inside
# save_checkpoint and says so: "write" halfway through writing the temp file, "rename" after the
# fsync, just before the rename. The SIGKILL then lands exactly there.
_SAVER = """
import io, os, sys, time, torch
import helmrl.ppo.checkpoint as ck
where, path = sys.argv[1], sys.argv[2]
big = torch.randn(1_000_000)
ck.save_checkpoint({"update": 1, "w": big}, path)
real_save, real_replace = torch.save, os.replace
def park():
    print("parked", flush=True)
    time.sleep(600)
def half_save(obj, fh):
    buf = io.BytesIO()
    real_save(obj, buf)
    data = buf.getvalue()
    fh.write(data[: len(data) // 2])
    fh.flush()
    park()
def replace_later(src, dst):
    park()
if where == "write":
    ck.torch.save = half_save
else:
    ck.os.replace = replace_later
ck.save_checkpoint({"update": 2, "w": torch.zeros(1_000_000)}, path)
"""


@pytest.mark.parametrize("where", ["write", "rename"])
def test_sigkill_during_a_save_never_leaves_a_corrupt_checkpoint(where, tmp_path):
    path = tmp_path / "checkpoint.pt"
    proc = subprocess.Popen(
        [sys.executable, "-c", _SAVER, where, str(path)],
        env=_child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout.readline().strip() == "parked"
    temp = list(tmp_path.glob(".checkpoint.pt.tmp*"))
    assert len(temp) == 1 and temp[0].stat().st_size > 0  # the kill lands mid-save
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    state = load_checkpoint(path)
    assert state["update"] == 1 and state["w"].shape == (1_000_000,)


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
    ("head", "mlp"),
    ("output_gain", 1.0),
    ("encoder", "resnet"),
    ("mem_len", 0),
    ("n_sink", -1),
    ("frozen_dtype", "float16"),
    ("hopfield_cache", -2),
    ("memory_impl", "flash"),
    ("lr", 0.0),
    ("anneal_lr", "yes"),
    ("rollout_steps", 0),
    ("n_minibatches", 0),
    ("segments_per_minibatch", -1),
    ("device", "tpu"),
    ("device", "cuda:x"),
    ("vec_env", "threads"),
    ("history_layer", "top"),
    ("history_layer", "3,-1"),
    ("history_norm", "batch"),
    ("lm_layers", -1),
    ("label", 3),
    ("epochs", 0),
    ("gamma", 1.5),
    ("gae_lambda", -0.1),
    ("clip_coef", 0.0),
    ("ent_coef", -0.01),
    ("vf_coef", -1.0),
    ("max_grad_norm", 0.0),
    ("weight_decay", -1.0),
    ("norm_adv", "yes"),
    ("bootstrap_truncated", "yes"),
    ("reward_norm", "maybe"),
    ("checkpoint_every", 0),
    ("log_window", 0),
    ("torch_threads", -1),
    ("top_k", 0),
    ("history_read", "slots"),
    ("read_window", 0),
    ("read_offset_gain", 0.0),
    ("lstm_skip", True),  # the default agent is helm
    ("env_minibatches", "yes"),
    ("vision_encoder", 3),
]


@pytest.mark.parametrize("name,value", BAD_FIELDS)
def test_each_invalid_field_is_refused_with_its_name(name, value):
    with pytest.raises(ConfigError) as err:
        TrainConfig(**{name: value}).validate()
    assert str(err.value).startswith(f"{name}=")


def test_every_field_is_covered_by_the_validation_test():
    from helmrl.config import config_fields

    assert {f.name for f in config_fields()} - {"env_id"} <= {n for n, _ in BAD_FIELDS}


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
    return cfg, Trainer.from_config(cfg, tmp_path, progress=False)


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    _, trainer = _cartpole_cnn(tmp_path, updates=5, checkpoint_every=1)
    import helmrl.ppo.core as core

    real = core.ppo_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        loss, stats, terms = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] > 2 * 3 * 2:  # the 3rd update (3 epochs x 2 minibatches per update)
            terms["value"] = terms["value"] * float("nan")
        return loss, stats, terms

    monkeypatch.setattr(core, "ppo_loss", poisoned)
    with pytest.raises(NonFiniteError, match="non-finite value at update 3"):
        trainer.train()
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["update"] == 2
    assert all(torch.isfinite(v).all() for v in state["agent"].values())


def test_ctrl_c_finishes_the_update_saves_and_resumes(tmp_path, monkeypatch):
    cfg, trainer = _cartpole_cnn(tmp_path, updates=4, checkpoint_every=100)
    real, calls = trainer.collect, {"n": 0}

    def interrupted_third_time():
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGINT)  # arrives in the middle of the third rollout
        return real()

    monkeypatch.setattr(trainer, "collect", interrupted_third_time)
    result = trainer.train()
    assert result.interrupted and result.global_step == 3 * 16  # the third update completed
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["update"] == 3 and state["global_step"] == 48
    assert _rows(tmp_path) == 3
    resumed = Trainer.from_config(cfg, tmp_path, progress=False).train(resume=True)
    assert not resumed.interrupted and resumed.global_step == 64 and _rows(tmp_path) == 4


def test_second_ctrl_c_stops_at_once_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    cfg, trainer = _cartpole_cnn(tmp_path, updates=6, checkpoint_every=2)
    real, calls = trainer.collect, {"n": 0}

    def interrupted_twice():
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return real()

    monkeypatch.setattr(trainer, "collect", interrupted_twice)
    assert trainer.train().interrupted
    assert load_checkpoint(tmp_path / "checkpoint.pt")["update"] == 2


def test_idle_cores_counts_a_busy_core_as_taken():
    """The oversubscription warning's count: a busy single-thread process takes a core away."""
    import subprocess
    import sys

    from helmrl.devices import idle_cores

    cores = os.cpu_count() or 1
    quiet = idle_cores.__wrapped__(0.3)
    assert 1 <= quiet <= cores
    if cores < 2 or quiet < cores:
        pytest.skip("needs a quiet machine with 2+ cores")
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        assert idle_cores.__wrapped__(0.5) <= cores - 1
    finally:
        spin.kill()
        spin.wait()


def test_parameters_of_another_shape_are_refused_in_one_line(tmp_path):
    from helmrl.models.agents.cnn import CNNAgent
    from helmrl.models.configs import NetConfig
    from helmrl.ppo.checkpoint import load_agent_state

    sized = CNNAgent((56, 56, 3), 7, net=NetConfig(encoder="sized"))
    authors = CNNAgent((56, 56, 3), 7, net=NetConfig(encoder="authors"))
    with pytest.raises(CheckpointError, match="do not fit the network") as err:
        load_agent_state(authors, {"agent": sized.state_dict()}, tmp_path / "checkpoint.pt")
    assert "\n" not in str(err.value) and "size mismatch for encoder.convs.2.weight" in str(err.value)
    load_agent_state(sized, {"agent": sized.state_dict()}, tmp_path / "checkpoint.pt")  # same shape loads
