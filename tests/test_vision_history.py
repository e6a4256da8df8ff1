"""HELMv2 and SHELM: a frozen CLIP in front of the frozen LM, on tiny random models.

The tests save a tiny random CLIP as a real checkpoint folder has it (config and weights, an
image processor, a tokenizer read from vocab.json + merges.txt), and a tiny Llama with a
byte-level BPE tokenizer of its own. They share the words key, door, ball, red and wall and the
single letters the LM holds as word starts (" b", " d", ...), not "box" or "green".
"""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from helmrl.cli import main
from helmrl.frozen.embedding_rescale import width_map
from helmrl.frozen.history_config import HistoryConfig
from helmrl.frozen.history_stage import HistoryStage, build_history_stage
from helmrl.frozen.lm_memory import make_lm_memory
from helmrl.frozen.multi_token_memory import MultiTokenMemory
from helmrl.frozen.vision_encoder import load_vision_encoder

from .conftest import tiny_llama
from .test_lm_memory import reference


def _shared(clip_dir: Path, lm_dir: Path) -> dict[int, int]:
    """CLIP id -> LM id of every word w both hold whole, from the vocabularies: CLIP's "w</w>"
    and the LM's "Ġw", where each tokenizer writes w as that one token (BPE's merge order can
    make a token of the vocabulary unreachable: "grey" is g·re·y here)."""
    from transformers import AutoTokenizer

    clip_tok, lm_tok = AutoTokenizer.from_pretrained(clip_dir), AutoTokenizer.from_pretrained(lm_dir)
    clip_vocab, lm_vocab = json.loads((clip_dir / "vocab.json").read_text()), lm_tok.get_vocab()
    out = {}
    for t, i in clip_vocab.items():
        w = t.removesuffix("</w>")
        if t.endswith("</w>") and "Ġ" + w in lm_vocab:
            whole_in_clip = clip_tok(w, add_special_tokens=False)["input_ids"] == [i]
            whole_in_lm = lm_tok(" " + w, add_special_tokens=False)["input_ids"] == [lm_vocab["Ġ" + w]]
            if whole_in_clip and whole_in_lm:
                out[i] = lm_vocab["Ġ" + w]
    return out


def _cfg(clip_dir: Path, lm_dir: Path, input_map: str, **kw) -> HistoryConfig:
    base = dict(mem_len=12, n_sink=2, top_k=2, frozen_dtype="float32", hopfield_cache=0)
    return HistoryConfig(lm=str(lm_dir), vision_encoder=str(clip_dir), input_map=input_map, **{**base, **kw})


def _stage(clip_dir: Path, lm_dir: Path, input_map: str, **kw) -> HistoryStage:
    return build_history_stage(_cfg(clip_dir, lm_dir, input_map, **kw), (20, 20, 3))


def _images(n: int, seed: int = 0, side: int = 20) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, side, side, 3), generator=gen).to(torch.uint8)


# ---------------------------------------------------------------- HELMv2's input map


@pytest.mark.parametrize("d,m", [(16, 32), (32, 16), (24, 24)])
def test_width_map_is_the_identity_or_semi_orthogonal(d, m):
    w = width_map(d, m, seed=3)
    assert w.shape == (m, d)
    if d == m:
        assert torch.equal(w, torch.eye(m))
    gram = w.t() @ w if d < m else w @ w.t()
    torch.testing.assert_close(gram, torch.eye(min(d, m)), atol=1e-5, rtol=0)


def test_helmv2_standardises_over_the_batch_then_rescales_to_the_embedding_statistics(clip_dir, lm_dir):
    stage = _stage(clip_dir, lm_dir, "clip-features")
    obs = _images(6)
    x = stage.inputs(obs)  # (B, m): what the LM reads
    emb = stage.lm.get_input_embeddings().weight.float()
    torch.testing.assert_close(x.mean(0), emb.mean(0), atol=1e-5, rtol=0)
    torch.testing.assert_close(x.std(0, correction=0), emb.std(0, correction=0), atol=1e-5, rtol=1e-4)
    # the same by hand: CLIP features -> width map (16 -> 32) -> batch z-score -> E's mean and std
    f = stage.input_map.encoder.image_features(obs)
    g = f @ width_map(16, 32, seed=0).t()
    z = (g - g.mean(0)) / g.std(0, correction=0)
    torch.testing.assert_close(x, emb.mean(0) + emb.std(0, correction=0) * z, atol=1e-5, rtol=1e-4)
    one = stage.inputs(obs[:1])  # one env: nothing to standardise over -> E's mean, not NaN
    torch.testing.assert_close(one[0], emb.mean(0), atol=1e-6, rtol=0)


# ---------------------------------------------------------------- SHELM's retrieval


def test_shelm_feeds_the_top_k_shared_tokens_by_cosine(clip_dir, lm_dir):
    from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

    stage = _stage(clip_dir, lm_dir, "clip-tokens", top_k=3)
    clip_tok, lm_tok = AutoTokenizer.from_pretrained(clip_dir), AutoTokenizer.from_pretrained(lm_dir)
    shared = _shared(clip_dir, lm_dir)
    words = {lm_tok.decode([i]).strip() for i in shared.values()}
    assert {"key", "door", "ball", "red", "wall", "b"} <= words and not {"box", "green", "grey", "p"} & words
    retrieval = stage.input_map.retrieval
    assert dict(zip(retrieval.clip_ids.tolist(), retrieval.lm_ids.tolist(), strict=True)) == shared
    clip_ids, lm_ids = list(shared), list(shared.values())
    # by hand: CLIP text features of [BOS, c, EOS], image features, cosine, top 3
    model = CLIPModel.from_pretrained(clip_dir).eval()
    texts = torch.tensor([[clip_tok.bos_token_id, c, clip_tok.eos_token_id] for c in clip_ids])
    obs = _images(5, seed=1)
    pixels = AutoImageProcessor.from_pretrained(clip_dir)(images=list(obs.numpy()), return_tensors="pt")
    with torch.no_grad():
        t = model.get_text_features(input_ids=texts).pooler_output
        f = model.get_image_features(pixel_values=pixels["pixel_values"]).pooler_output
    cos = torch.nn.functional.normalize(f, dim=1) @ torch.nn.functional.normalize(t, dim=1).t()
    expected = torch.tensor(lm_ids)[cos.topk(3, dim=1).indices]
    tokens = stage.encode(obs)
    assert torch.equal(tokens, expected)
    assert set(tokens.flatten().tolist()) <= set(lm_ids)


# ---------------------------------------------------------------- the memory, k inputs per step


@pytest.mark.parametrize("impl", ["fast", "hf"])
def test_k_inputs_per_step_equal_one_full_masked_forward_over_the_tokens(impl):
    model = tiny_llama()
    k, mem_len, n_sink, T, reset_at = 3, 7, 2, 8, 5
    mem = MultiTokenMemory(make_lm_memory(model, 2, mem_len, n_sink, implementation=impl), k)
    x = torch.randn(T, 2, k, 32, generator=torch.Generator().manual_seed(0))
    starts = torch.zeros(T, 2, dtype=torch.bool)
    starts[0] = True
    starts[reset_at, 0] = True
    outs = torch.stack([mem(x[t], starts[t]) for t in range(T)])  # (T, 2, m)

    def ref(seq):  # (steps, k, m) -> the state at each step's last token
        return reference(model, seq.reshape(-1, 32), mem_len, n_sink)[k - 1 :: k]

    torch.testing.assert_close(outs[:, 1], ref(x[:, 1]), atol=1e-4, rtol=0)
    ref0 = torch.cat([ref(x[:reset_at, 0]), ref(x[reset_at:, 0])])
    torch.testing.assert_close(outs[:, 0], ref0, atol=1e-4, rtol=0)


def test_snapshot_and_restore_undo_all_k_slots_of_a_step():
    mem = MultiTokenMemory(make_lm_memory(tiny_llama(), 2, 5, 1), 3)  # ring of 4 < 2 steps of 3
    x = torch.randn(4, 2, 3, 32, generator=torch.Generator().manual_seed(1))
    for t in range(3):
        mem(x[t], torch.tensor([t == 0, t == 0]))
    before = [b.clone() for b in (mem.inner.keys, mem.inner.values, mem.inner.valid, mem.inner.position)]
    start = torch.tensor([True, False])
    saved = mem.snapshot_step(start)
    mem(x[3], start)
    mem.restore_step(saved)
    after = (mem.inner.keys, mem.inner.values, mem.inner.valid, mem.inner.position)
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))


@pytest.mark.parametrize("input_map", ["clip-features", "clip-tokens"])
def test_stage_shapes_and_per_env_resets(clip_dir, lm_dir, input_map):
    a, b = _stage(clip_dir, lm_dir, input_map), _stage(clip_dir, lm_dir, input_map)
    assert a.out_dim == 32 and a.tokens_per_step == (2 if input_map == "clip-tokens" else 1)
    a.reset(3)
    for t in range(4):
        out = a(_images(3, seed=10 + t), torch.full((3,), t == 0))
        assert out.shape == (3, 32) and out.dtype == torch.float32 and not out.requires_grad
    obs, start = _images(3, seed=20), torch.tensor([True, False, False])
    after_reset = a(obs, start)
    b.reset(3)
    fresh = b(obs, torch.ones(3, dtype=torch.bool))  # env 0 forgot its past: as a fresh memory
    torch.testing.assert_close(after_reset[0], fresh[0], atol=1e-5, rtol=0)
    assert not torch.allclose(after_reset[1], fresh[1], atol=1e-3)  # env 1 remembers


def test_shelm_stage_is_the_lm_over_its_tokens_embeddings(clip_dir, lm_dir):
    stage = _stage(clip_dir, lm_dir, "clip-tokens", top_k=2, mem_len=6, n_sink=1)
    stage.reset(1)
    obs = _images(5, seed=4)
    outs = torch.cat([stage(obs[t : t + 1], torch.tensor([t == 0])) for t in range(5)])
    tokens = stage.encode(obs)  # (5, 2)
    seq = stage.lm.get_input_embeddings()(tokens.reshape(-1))
    expected = reference(stage.lm, seq, 6, 1)[1::2]
    torch.testing.assert_close(outs, expected, atol=1e-4, rtol=0)


# ---------------------------------------------------------------- frozen, trained, wrapped, refused


def test_the_vision_encoder_is_frozen_and_never_optimised(clip_dir, lm_dir, tmp_path):
    from helmrl.config import TrainConfig
    from helmrl.ppo.trainer import Trainer

    cfg = TrainConfig(
        env_id="RandomMaze-v0",
        agent="shelm",
        lm=str(lm_dir),
        vision_encoder=str(clip_dir),
        top_k=2,
        n_envs=2,
        rollout_steps=8,
        n_minibatches=2,
        total_steps=16,
        mem_len=8,
        n_sink=2,
        frozen_dtype="float32",
    ).validate()
    tr = Trainer.from_config(cfg, tmp_path, progress=False)
    encoder = list(tr.history.input_map.encoder.parameters())
    assert encoder and all(not p.requires_grad for p in encoder)
    optimised = {id(p) for g in tr.optimizer.param_groups for p in g["params"]}
    assert not optimised & {id(p) for p in tr.history.parameters()}  # neither CLIP nor the LM
    tr.start_episodes()
    rollout = tr.collect()
    assert not rollout.obs["history"].requires_grad
    tr.update(rollout)
    assert all(p.grad is None for p in encoder)
    assert any(p.grad is not None for p in tr.agent.parameters())


@pytest.mark.slow
@pytest.mark.parametrize("agent", ["helmv2", "shelm"])
def test_train_eval_record_and_words_end_to_end(agent, clip_dir, lm_dir, tmp_path, capsys, monkeypatch):
    run = tmp_path / agent
    args = ["train", "--agent", agent, "--env", "MiniGrid-KeyCorridorS3R1-v0", "--lm", str(lm_dir)]
    args += ["--vision-encoder", str(clip_dir), "--top-k", "2", "--total-steps", "64", "--n-envs", "2"]
    args += ["--rollout-steps", "16", "--n-minibatches", "2", "--mem-len", "16", "--torch-threads", "1"]
    assert main([*args, "--run-dir", str(run), "--no-progress"]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["agent"] == agent and cfg["vision_encoder"] == str(clip_dir)
    assert (run / "checkpoint.pt").stat().st_size > 0
    assert main(["eval", str(run), "--episodes", "1"]) == 0
    # a video plays env 0 beside as many envs as HELMv2 trained with: its CLIP features are
    # standardised over the envs, so alone its LM would read the batch mean at every step
    from helmrl.analysis import video

    played, real = [], video.play_episode
    monkeypatch.setattr(video, "play_episode", lambda *a, **k: played.append(k["n_envs"]) or real(*a, **k))
    assert main(["record", str(run), "--episodes", "1", "--out", str(tmp_path / "v.gif")]) == 0
    assert played == [2 if agent == "helmv2" else 1]
    capsys.readouterr()
    out = tmp_path / "words.png"
    code = main(["analyze", "words", str(run), "--max-steps", "3", "--out", str(out)])
    text = capsys.readouterr()
    if agent == "helmv2":
        assert code == 2 and "CLIP image features" in text.err
        return
    assert code == 0 and out.read_bytes()[:4] == b"\x89PNG"
    lines = text.out.strip().splitlines()
    assert "tokens SHELM fed its LM" in lines[0] and len(lines) == 1 + 4  # t = 0..3
    from transformers import AutoTokenizer

    lm_tok = AutoTokenizer.from_pretrained(lm_dir)
    words = {lm_tok.decode([i]).strip() for i in _shared(clip_dir, lm_dir).values()}
    assert all(len(line.split()) == 1 + 2 and set(line.split()[1:]) <= words for line in lines[1:])


@pytest.mark.parametrize("input_map", ["clip-features", "clip-tokens"])
def test_the_gymnasium_wrapper_takes_the_same_input_map(clip_dir, lm_dir, input_map):
    from helmrl.envs import make_vec_env
    from helmrl.ppo.acting import ActingLoop
    from helmrl.wrappers import FrozenHistoryObservation

    def envs():  # 9x9 RandomMaze views, episodes cut at 4 steps: resets every few steps
        return make_vec_env("RandomMaze-v0", 2, wrapper=lambda e: gym.wrappers.TimeLimit(e, 4))

    cfg = _cfg(clip_dir, lm_dir, input_map)
    wrapped = FrozenHistoryObservation(envs(), cfg)
    loop = ActingLoop(envs(), None, build_history_stage(cfg, (9, 9, 3)))
    obs, _ = wrapped.reset(seed=3)
    wrapped.action_space.seed(3)
    loop.reset(seed=3)
    assert obs["history"].shape == (2, 32)
    ends = 0
    for _ in range(10):
        assert np.array_equal(obs["observation"], loop.next_obs["observation"].numpy())
        np.testing.assert_allclose(obs["history"], loop.next_history.numpy(), atol=1e-5)
        obs, _, term, trunc, info = wrapped.step(loop.step().action.numpy())
        for i in np.flatnonzero(term | trunc):
            assert info["final_obs"][i]["history"].shape == (32,)
            ends += 1
    assert ends >= 4


@pytest.mark.parametrize(
    "value,needle",
    [("/no/such/clip", "no such folder"), ("", "need --vision-encoder"), ("LM", "not CLIP"), ("EMPTY", "")],
)
def test_a_missing_or_unreadable_vision_encoder_is_one_line_and_exit_2(
    value, needle, lm_dir, tmp_path, capsys
):
    if value == "LM":
        value = str(lm_dir)
    elif value == "EMPTY":
        (tmp_path / "empty").mkdir()
        value = str(tmp_path / "empty")
    run = tmp_path / "run"
    args = ["train", "--agent", "helmv2", "--lm", str(lm_dir), "--vision-encoder", value]
    assert main([*args, "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert needle in err and "hf download" in err
    assert not run.exists()


def test_load_vision_encoder_gives_a_frozen_clip(clip_dir):
    clip = load_vision_encoder(str(clip_dir), need_tokenizer=True)
    assert clip.width == 16 and clip.tokenizer is not None
    assert not clip.model.training and all(not p.requires_grad for p in clip.parameters())
    assert clip.image_features(_images(2, side=56)).shape == (2, 16)  # resized by its processor


def test_stable_baselines3_trains_shelm_through_the_adapter(clip_dir, lm_dir):
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv

    from helmrl.envs import make_env
    from helmrl.integrations.sb3 import FrozenHistoryVecEnv, HELMExtractor

    venv = DummyVecEnv([lambda: gym.wrappers.TimeLimit(make_env("RandomMaze-v0"), 5)] * 2)
    wrapped = FrozenHistoryVecEnv(venv, _cfg(clip_dir, lm_dir, "clip-tokens"))
    model = PPO(
        "MultiInputPolicy",
        wrapped,
        n_steps=16,
        batch_size=16,
        n_epochs=1,
        policy_kwargs=dict(
            features_extractor_class=HELMExtractor, features_extractor_kwargs=dict(features=32)
        ),
        device="cpu",
        seed=0,
    )
    model.learn(64)
    assert model.num_timesteps == 64
    assert not any(p.requires_grad for p in wrapped.frozen_history.parameters())


@pytest.mark.gpu
@pytest.mark.parametrize("input_map", ["clip-features", "clip-tokens"])
def test_the_stage_on_cuda_matches_cpu(clip_dir, lm_dir, input_map):
    cfg = _cfg(clip_dir, lm_dir, input_map)
    cpu, gpu = build_history_stage(cfg, (20, 20, 3)), build_history_stage(cfg, (20, 20, 3), "cuda")
    cpu.reset(3)
    gpu.reset(3)
    for t in range(6):  # past the window (12 slots), CUDA graph replays k times a step
        obs, start = _images(3, seed=t), torch.tensor([t == 0, t == 0, t in (0, 3)])
        a, b = cpu(obs, start), gpu(obs, start)
        torch.testing.assert_close(b.cpu(), a, atol=1e-3, rtol=1e-3)
