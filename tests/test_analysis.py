"""Analysis commands compute their numbers from the data they read."""

import csv
import json

import imageio.v2 as imageio
import numpy as np
import pytest
import torch

from helmrl.analysis import representations as rep
from helmrl.analysis.episodes import Episode, play_episode
from helmrl.analysis.subject import Subject, bare_config
from helmrl.cli import main
from helmrl.frozen.frozen_hopfield import FrozenHopfield, observation_to_vector
from helmrl.frozen.history_stage import build_history_stage
from helmrl.frozen.language_model import load_language_model
from helmrl.frozen.lm_memory import streaming_attention_mask


@pytest.fixture(scope="module")
def tiny_lm(tiny_llama_dir):
    return load_language_model(str(tiny_llama_dir))


def _subject(lm_dir, **changes) -> Subject:
    """A bare env's default stage on the tiny LM, for 7x7x3 observations."""
    import dataclasses

    cfg = dataclasses.replace(bare_config(str(lm_dir)), **changes)
    return Subject("E-v0", cfg, build_history_stage(cfg, (7, 7, 3)), (7, 7, 3))


@pytest.fixture(scope="module")
def tiny_subject(tiny_llama_dir):
    return _subject(tiny_llama_dir)


def _obs(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 7, 7, 3), dtype=np.uint8)


def test_identical_observations_have_zero_distance_and_the_same_word(tiny_subject, tmp_path):
    obs = _obs(6)
    obs[3] = obs[1]  # a repeated observation
    hopfields = {b: tiny_subject.hopfield_at(b) for b in (1.0, 100.0)}
    data = rep.distance_analysis(obs, hopfields, tmp_path / "d.png")
    mats = np.load(tmp_path / "d.npz")
    for name in ("observation", "beta_1", "beta_100"):
        assert mats[name][1, 3] == pytest.approx(0.0, abs=1e-6)
        assert mats[name][1, 2] > 0
    # The correlation is the Spearman correlation of the matrices it saved.
    from scipy.stats import spearmanr

    iu = np.triu_indices(6, 1)
    expected = spearmanr(mats["observation"][iu], mats["beta_100"][iu]).statistic
    assert data["spearman_vs_observation"]["100.0"] == pytest.approx(expected)
    assert json.loads((tmp_path / "d.json").read_text())["n_observations"] == 6

    ep = Episode(observations=list(obs))
    words = rep.word_trace(ep, tiny_subject.hopfield, None, tmp_path / "w.png")
    assert words["tokens"][1] == words["tokens"][3]
    assert words["distinct_words"] == len(set(words["tokens"]))


def test_words_are_vocabulary_tokens_and_equal_the_argmax_of_the_weights(tiny_lm, tiny_subject, tmp_path):
    obs = _obs(9, seed=1)
    data = rep.word_trace(Episode(observations=list(obs)), tiny_subject.hopfield, None, tmp_path / "w.png")
    vec = observation_to_vector(torch.as_tensor(obs))
    fh = FrozenHopfield(tiny_lm.token_embeddings, vec.shape[1], beta=100.0)
    assert data["tokens"] == fh.weights(vec).argmax(1).tolist()
    assert all(0 <= t < tiny_lm.token_embeddings.shape[0] for t in data["tokens"])
    # β→∞ retrieval returns exactly that token's embedding.
    sharp = FrozenHopfield(tiny_lm.token_embeddings, vec.shape[1], beta=1e6)
    torch.testing.assert_close(sharp(vec), tiny_lm.token_embeddings[data["tokens"]])


@pytest.mark.slow
def test_real_tokenizer_decodes_words(tmp_path):
    from helmrl.analysis.subject import bare_subject

    subject = bare_subject("MiniGrid-KeyCorridorS3R1-v0")
    tok = subject.tokenizer
    ep = play_episode("MiniGrid-KeyCorridorS3R1-v0", 0, max_steps=5)
    data = rep.word_trace(ep, subject.hopfield, tok, tmp_path / "w.png")
    assert data["words"] == [tok.decode([t]).strip() or repr(tok.decode([t])) for t in data["tokens"]]


@pytest.mark.parametrize("mem_len,n_sink", [(64, 4), (5, 2)])
def test_attention_rows_sum_to_one_within_the_memory_window(tiny_llama_dir, mem_len, n_sink, tmp_path):
    """Causal, and no key outside the window the memory keeps (the first n_sink steps and the
    last mem_len - n_sink) gets any attention: the maps are those of the trained memory."""
    stage = _subject(tiny_llama_dir, mem_len=mem_len, n_sink=n_sink).frozen_history
    ep = Episode(observations=list(_obs(12, seed=2)))
    data = rep.attention_maps(ep, stage, tmp_path / "a.png", heads=2)
    maps = torch.load(tmp_path / "a.pt")
    assert data["steps"] == 12 and set(maps) == {f"layer{i}" for i in data["layers"]}
    allowed = streaming_attention_mask(12, mem_len, n_sink)
    for att in maps.values():
        torch.testing.assert_close(att.sum(-1), torch.ones(att.shape[:-1]))
        assert (att.triu(1) == 0).all() and (att[:, ~allowed] == 0).all()
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"


_ENV = "E-v0"


def _fake_run(path, agent, seed, steps, returns):
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"env_id": "E-v0", "agent": agent, "seed": seed}))
    with open(path / "metrics.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["update", "step", "episode_return_mean"])
        w.writeheader()
        for i, (s, r) in enumerate(zip(steps, returns, strict=True)):
            w.writerow({"update": i + 1, "step": s, "episode_return_mean": r})


def test_plot_csv_holds_the_numbers_of_the_runs_it_read(tmp_path, capsys):
    steps = [100, 200, 300]
    _fake_run(tmp_path / "a0", "helm", 0, steps, ["", 0.2, 0.6])  # no episode yet at step 100
    _fake_run(tmp_path / "a1", "helm", 1, steps, [0.1, 0.4, 0.8])
    _fake_run(tmp_path / "b0", "cnn", 0, steps, [0.0, 0.1, 0.3])
    out = tmp_path / "curves.png"
    assert (
        main(["plot", str(tmp_path / "a0"), str(tmp_path / "a1"), str(tmp_path / "b0"), "--out", str(out)])
        == 0
    )
    assert "helm@E-v0: mean 0.700 (min 0.600, max 0.800) (n=2)" in capsys.readouterr().out
    curves = list(csv.DictReader(open(tmp_path / "curves.csv")))
    helm = [r for r in curves if r["agent"] == "helm"]
    assert float(helm[0]["step"]) == 200 and float(helm[-1]["step"]) == 300  # common range only
    assert float(helm[-1]["mean"]) == pytest.approx(0.7)
    assert float(helm[0]["mean"]) == pytest.approx(0.3)
    summary = {r["agent"]: r for r in csv.DictReader(open(tmp_path / "curves_summary.csv"))}
    assert summary["helm"]["finals"] == "0.6000 0.8000" and summary["cnn"]["runs"] == "1"
    helm = summary["helm"]  # two runs: their mean and min-max
    assert helm["statistic"] == "mean, min-max" and float(helm["center"]) == pytest.approx(0.7)
    assert (float(helm["low"]), float(helm["high"])) == pytest.approx((0.6, 0.8))


def test_gif_has_the_frames_of_the_episodes_it_recorded(tmp_path, tiny_llama_dir, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--env",
                "RandomMaze-v0",
                "--agent",
                "helm",
                "--lm",
                str(tiny_llama_dir),
                "--total-steps",
                "64",
                "--n-envs",
                "2",
                "--rollout-steps",
                "32",
                "--n-minibatches",
                "2",
                "--mem-len",
                "8",
                "--run-dir",
                str(run),
                "--no-progress",
            ]
        )
        == 0
    )
    out = tmp_path / "agent.gif"
    assert main(["record", str(run), "--episodes", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    frames = imageio.mimread(out)
    from helmrl.analysis.video import record

    res = record(run, 2, tmp_path / "again.gif")
    assert len(frames) == res["frames"] == sum(n + 1 for n in res["lengths"])
    assert f"{len(frames)} frames" in printed


@pytest.mark.slow
def test_memory_probe_reads_the_past_from_the_default_lm():
    """Synthetic mode, where the answer is known: layer 0 (the inputs) holds the current symbol
    exactly and nothing of the previous one; the last layer still holds the previous one."""
    from helmrl.analysis import memory_probe as mp
    from helmrl.frozen.history_config import HistoryConfig

    trace = mp.synthetic_trace(n_envs=16, steps=128, symbols=4, seed=0)
    cfg = HistoryConfig(frozen_dtype="float32", history_layer=mp.every_layer(30))
    states = mp.record_states(build_history_stage(cfg, (4,)), trace, label_tokens=False)
    acc = {(r["layer"], r["lag"]): r for r in mp.probe(states, trace, lags=[0, 1], layers=[0, 30])}
    assert acc[(0, 0)]["accuracy"] == 1.0
    assert acc[(0, 1)]["accuracy"] < 0.4  # the inputs know nothing of the past (chance ~0.28)
    assert acc[(30, 1)]["accuracy"] >= 0.7 > 2 * acc[(30, 1)]["chance"]


def test_analyze_memory_cli_on_an_env_writes_heatmap_and_table(tmp_path, tiny_llama_dir, capsys):
    from helmrl.cli import main

    out = tmp_path / "memory.png"
    args = ["analyze", "memory", "--env", "MiniGrid-Empty-5x5-v0", "--lm", str(tiny_llama_dir)]
    args += ["--n-envs", "4", "--steps", "24", "--lags", "0", "1", "--out", str(out)]
    assert main(args) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.DictReader(open(out.with_suffix(".csv"))))
    assert {(int(r["layer"]), int(r["lag"])) for r in rows} == {(k, lag) for k in range(3) for lag in (0, 1)}
    assert "best layer per lag" in capsys.readouterr().out


def test_plot_reference_draws_the_published_points_in_the_agents_colour(tmp_path, monkeypatch):
    from helmrl.analysis import curves

    _fake_run(tmp_path / "h0", "helm", 0, [100, 200], [0.1, 0.5])
    ref = tmp_path / "paper.csv"
    ref.write_text(
        "env_id,agent,step,return,source\n"
        f"{_ENV},helm,100,0.3,paper\n{_ENV},helm,200,0.9,paper\n{_ENV},cnn,200,0.4,paper\nOther-v0,helm,1,1,paper\n"
    )
    drawn = []
    real_plot = curves.plt.Axes.plot

    def spy(self, *args, **kwargs):
        drawn.append((kwargs.get("label"), kwargs.get("color"), args))
        return real_plot(self, *args, **kwargs)

    monkeypatch.setattr(curves.plt.Axes, "plot", spy)
    assert (
        main(["plot", str(tmp_path / "h0"), "--reference", str(ref), "--out", str(tmp_path / "c.png")]) == 0
    )
    by_label = {label: (colour, args) for label, colour, args in drawn}
    assert by_label["helm (paper)"][0] == by_label["helm (n=1)"][0]  # same agent, same colour
    assert list(by_label["helm (paper)"][1][0]) == [100.0, 200.0] and list(
        by_label["helm (paper)"][1][1]
    ) == [0.3, 0.9]
    assert "cnn (paper)" in by_label and by_label["cnn (paper)"][0] != by_label["helm (n=1)"][0]
    assert not any("Other" in str(label) for label in by_label)


def test_plot_reference_without_the_columns_is_a_one_line_error(tmp_path, capsys):
    _fake_run(tmp_path / "h0", "helm", 0, [100, 200], [0.1, 0.5])
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n")
    assert (
        main(["plot", str(tmp_path / "h0"), "--reference", str(bad), "--out", str(tmp_path / "c.png")]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "env_id" in err
