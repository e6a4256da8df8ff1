"""An analysis of a run describes the model that was trained.

One tiny HELM run is trained through the CLI with settings that all differ from the defaults an
analysis would otherwise fall back on (dot similarity, standardize history norm, β = 50, an
8-slot memory with 2 sinks, seed 3), while the trainer's own rollouts (observations, episode starts
and the histories the policy was trained on) are recorded as it collects them. The analyses'
stage must then give those very histories back, bit for bit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from helmrl.analysis import memory_probe as mp
from helmrl.analysis.subject import bare_config, load_subject
from helmrl.cli import main
from helmrl.config import TrainConfig
from helmrl.frozen.frozen_hopfield import FrozenHopfield, observation_to_vector
from helmrl.frozen.history_stage import build_history_stage
from helmrl.frozen.language_model import load_language_model
from helmrl.frozen.lm_memory import streaming_attention_mask
from helmrl.ppo.trainer import Trainer

MEM_LEN, N_SINK, N_ENVS = 8, 2, 2


@pytest.fixture(scope="module")
def trained(tiny_llama_dir, tmp_path_factory):
    """(run dir, [(obs, starts, histories)] of every rollout, in the order the trainer collected them)."""
    run = tmp_path_factory.mktemp("fidelity") / "run"
    recorded = []
    collect = Trainer.collect

    def recording_collect(self: Trainer):  # the trainer's Rollout
        rollout = collect(self)
        parts = (rollout.obs["observation"], rollout.starts, rollout.obs["history"])
        recorded.append([t.cpu().clone() for t in parts])
        return rollout

    args = ["train", "--agent", "helm", "--lm", str(tiny_llama_dir), "--env", "MiniGrid-KeyCorridorS3R1-v0"]
    args += ["--total-steps", "64", "--n-envs", str(N_ENVS), "--rollout-steps", "16", "--n-minibatches", "2"]
    args += ["--epochs", "1", "--seed", "3", "--beta", "50", "--similarity", "dot"]
    args += ["--history-norm", "standardize", "--mem-len", str(MEM_LEN), "--n-sink", str(N_SINK)]
    args += ["--run-dir", str(run), "--no-progress"]
    with pytest.MonkeyPatch.context() as mpatch:
        mpatch.setattr(Trainer, "collect", recording_collect)
        assert main(args) == 0
    assert len(recorded) == 2
    return run, recorded


def _replay(stage, recorded) -> list[torch.Tensor]:
    """The stage's histories for the trainer's inputs, stepped as the trainer steps it."""
    stage.reset(N_ENVS)
    return [stage(obs[t], starts[t]) for obs, starts, _ in recorded for t in range(len(obs))]


def _trained_histories(recorded) -> list[torch.Tensor]:
    return [h for _, _, hist in recorded for h in hist]


def test_the_analysis_stage_gives_back_the_trained_histories_bit_for_bit(trained, tiny_llama_dir):
    """The check that matters: the histories the policy was trained on, not a stage rebuilt the way
    the analysis builds it. Episodes run past the 8-slot window (its ring buffer wraps), and a
    stage with any analysis default in place of the run's settings gives other numbers."""
    run, recorded = trained
    subject = load_subject(run, "memory")
    assert subject.config == TrainConfig.load(run / "config.json").history
    replayed, trained_hist = _replay(subject.stage, recorded), _trained_histories(recorded)
    assert all(torch.equal(a, b) for a, b in zip(replayed, trained_hist, strict=True))
    starts = torch.cat([s for _, s, _ in recorded])
    assert int(mp.episode_step(starts).max()) >= MEM_LEN  # the window mattered

    # The same check has teeth: each setting an analysis used to fill in itself changes the history.
    cfg = subject.config
    defaults = [{"similarity": "cosine"}, {"history_norm": "none"}, {"mem_len": 64, "n_sink": 4}]
    for changes in [*defaults, {"seed": 0}, {"beta": 100.0}]:
        other = subject.variant(**changes)
        assert not all(torch.equal(a, b) for a, b in zip(_replay(other, recorded), trained_hist, strict=True))
    bare = bare_config(str(tiny_llama_dir))  # what an analysis without the run's config would build
    default = build_history_stage(bare, subject.obs_shape, lm_model=subject.stage.lm)
    assert not torch.equal(_replay(default, recorded)[-1], trained_hist[-1])
    assert cfg.similarity == "dot" and cfg.history_norm == "standardize" and cfg.mem_len == MEM_LEN


def test_the_memory_probe_reads_the_trained_history_and_the_dot_tokens(trained, tiny_llama_dir):
    """The probe's stage is the run's with every layer returned: its last layer is the history the
    head was trained on, and its labels are the dot-product argmax of the run's projection."""
    run, recorded = trained
    subject = load_subject(run, "memory")
    obs, starts = torch.cat([o for o, _, _ in recorded]), torch.cat([s for _, s, _ in recorded])
    trace = mp.Trace(obs, starts, np.zeros(starts.shape, dtype=np.int64))
    probed = subject.variant(history_layer=mp.every_layer(2))
    states = mp.record_states(probed, trace, label_tokens=True)
    trained_hist = torch.stack(_trained_histories(recorded))
    # standardize calibrates over every probed layer at once: equal up to the float32 rounding
    torch.testing.assert_close(torch.as_tensor(states[:, :, 2]), trained_hist)
    vec = observation_to_vector(obs.reshape(-1, *obs.shape[2:]))
    emb = load_language_model(str(tiny_llama_dir)).token_embeddings
    dot = FrozenHopfield(emb, vec.shape[1], beta=50.0, similarity="dot", seed=3)
    assert (trace.labels.reshape(-1) == dot.logits(vec).argmax(1).numpy()).all()


def test_analyze_words_on_a_dot_run_shows_the_dot_argmax(trained, tiny_llama_dir, tmp_path, capsys):
    run, _ = trained
    out = tmp_path / "words.png"
    assert main(["analyze", "words", str(run), "--max-steps", "8", "--out", str(out)]) == 0
    data = json.loads(out.with_suffix(".json").read_text())
    obs = np.load(out.with_suffix(".npz"))["observations"]
    vec = observation_to_vector(torch.as_tensor(obs))
    emb = load_language_model(str(tiny_llama_dir)).token_embeddings
    kw = dict(beta=50.0, seed=3)  # the run's β and projection seed
    dot = FrozenHopfield(emb, vec.shape[1], similarity="dot", **kw).logits(vec).argmax(1).tolist()
    cosine = FrozenHopfield(emb, vec.shape[1], similarity="cosine", **kw).logits(vec).argmax(1).tolist()
    assert data["tokens"] == dot and data["steps"] == len(obs) >= 2
    assert cosine != dot  # on this LM the two similarities pick different tokens: the check can fail
    assert f"{data['steps']} steps" in capsys.readouterr().out


def test_analyze_attention_on_a_run_keeps_to_its_memory_window(trained, tmp_path):
    run, _ = trained
    out = tmp_path / "attention.png"
    assert main(["analyze", "attention", str(run), "--max-steps", "12", "--out", str(out)]) == 0
    data = json.loads(out.with_suffix(".json").read_text())
    assert (data["mem_len"], data["n_sink"]) == (MEM_LEN, N_SINK)
    allowed = streaming_attention_mask(data["steps"], MEM_LEN, N_SINK)
    assert data["steps"] > MEM_LEN and not allowed.all()
    for att in torch.load(out.with_suffix(".pt")).values():
        assert (att[:, ~allowed] == 0).all()
        torch.testing.assert_close(att.sum(-1), torch.ones(att.shape[:-1]))


def _fake_run(path: Path, agent: str) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"agent": agent, "env_id": "MiniGrid-KeyCorridorS3R1-v0"}))
    return path


@pytest.mark.parametrize(
    "agent,kind,needle",
    [
        ("shelm", "distances", "FrozenHopfield"),
        ("shelm", "attention", "FrozenHopfield"),
        ("helmv2", "memory", "FrozenHopfield"),
        ("helmv2", "words", "CLIP image features"),
        ("cnn", "words", "no frozen history"),
    ],
)
def test_an_analysis_a_run_cannot_have_is_one_line_and_exit_2(agent, kind, needle, tmp_path, capsys):
    """Refused from config.json alone, before CLIP or the LM would load (there is neither here)."""
    run = _fake_run(tmp_path / agent, agent)
    assert main(["analyze", kind, str(run), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err and "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("kind,option", [("attention", ["--beta", "5"]), ("memory", ["--mem-len", "16"])])
def test_a_bare_env_option_on_a_run_is_refused(trained, kind, option, tmp_path, capsys):
    run, _ = trained
    assert main(["analyze", kind, str(run), *option, "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and option[0] in err and "config.json" in err
