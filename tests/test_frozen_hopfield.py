import pytest
import torch

from helmrl.frozen.frozen_hopfield import FrozenHopfield, observation_to_vector


def _emb(k: int = 50, m: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.randn(k, m, generator=torch.Generator().manual_seed(seed))


def test_no_trainable_parameters_and_all_state_is_buffers():
    fh = FrozenHopfield(_emb(), obs_dim=30, beta=10.0)
    assert list(fh.parameters()) == []
    assert {"projection_t", "keys_t", "embeddings"} <= set(dict(fh.named_buffers()))


@pytest.mark.parametrize("similarity", ["cosine", "dot"])
def test_weights_are_probability_vectors(similarity):
    fh = FrozenHopfield(_emb(), obs_dim=30, beta=5.0, similarity=similarity)
    w = fh.weights(torch.rand(7, 30))
    assert w.shape == (7, 50)
    assert (w >= 0).all()
    torch.testing.assert_close(w.sum(1), torch.ones(7))


def test_output_is_convex_combination_eq1():
    emb = _emb()
    fh = FrozenHopfield(emb, obs_dim=30, beta=3.0)
    obs = torch.rand(4, 30)
    torch.testing.assert_close(fh(obs), fh.weights(obs) @ emb)


def test_large_beta_retrieves_most_similar_token():
    emb = _emb()
    fh = FrozenHopfield(emb, obs_dim=30, beta=1e6)
    obs = torch.rand(5, 30)
    # Most similar by cosine between P·o and each embedding, computed independently here.
    query = obs @ fh.projection_t
    cos = torch.nn.functional.cosine_similarity(query[:, None, :], emb[None], dim=-1)
    best = cos.argmax(1)
    torch.testing.assert_close(fh(obs), emb[best])
    assert torch.equal(fh.nearest_tokens(obs), best)


def test_small_beta_gives_mean_embedding():
    emb = _emb()
    fh = FrozenHopfield(emb, obs_dim=30, beta=1e-8)
    torch.testing.assert_close(fh(torch.rand(3, 30)), emb.mean(0).expand(3, -1), atol=1e-5, rtol=0)


def test_projection_reproducible_from_seed_and_differs_across_seeds():
    emb = _emb()
    a = FrozenHopfield(emb, 30, 1.0, seed=3).projection_t
    b = FrozenHopfield(emb, 30, 1.0, seed=3).projection_t
    c = FrozenHopfield(emb, 30, 1.0, seed=4).projection_t
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_projection_scale_code_vs_paper():
    m, n = 64, 400
    emb = _emb(50, m)
    code = FrozenHopfield(emb, n, 1.0, projection_scale="code").projection_t
    paper = FrozenHopfield(emb, n, 1.0, projection_scale="paper").projection_t
    assert abs(code.std().item() - m**-0.5) < 0.01
    assert abs(paper.std().item() - (n / m) ** 0.5) < 0.05


def test_cosine_is_invariant_to_observation_scale():
    fh = FrozenHopfield(_emb(), obs_dim=30, beta=10.0)
    obs = torch.rand(2, 30)
    torch.testing.assert_close(fh(obs), fh(obs * 7.0))


def test_rejects_bad_beta_and_shapes():
    with pytest.raises(ValueError, match="beta"):
        FrozenHopfield(_emb(), 30, beta=0.0)
    with pytest.raises(ValueError, match="similarity"):
        FrozenHopfield(_emb(), 30, beta=1.0, similarity="l2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected observations"):
        FrozenHopfield(_emb(), 30, beta=1.0)(torch.rand(2, 31))


def test_observation_vector_averages_colour_channels_not_rows():
    # A channel-last image whose colour channels differ and whose rows differ.
    img = torch.zeros(1, 2, 3, 3, dtype=torch.uint8)
    img[0, :, :, 0] = 255  # red everywhere
    img[0, 1, :, 1] = 255  # green on row 1 only
    vec = observation_to_vector(img)
    assert vec.shape == (1, 6)
    expected = torch.tensor([[1 / 3] * 3 + [2 / 3] * 3])
    torch.testing.assert_close(vec, expected)


def test_history_norm_normalises_each_layer_block():
    from .conftest import hopfield_stage, tiny_llama

    model = tiny_llama(layers=2)
    obs = torch.randint(0, 256, (3, 5, 5, 3), dtype=torch.uint8)
    start = torch.ones(3, dtype=torch.bool)
    outs = {}
    for norm in ("none", "layernorm", "rms"):
        fh = hopfield_stage(model, 25, 10.0, mem_len=4, n_sink=1, layers=(1, 2), norm=norm)
        fh.reset(3)
        outs[norm] = fh(obs, start).view(3, 2, 32)
    ln, raw = outs["layernorm"], outs["none"]
    var = raw.var(-1, unbiased=False)
    torch.testing.assert_close(ln.mean(-1), torch.zeros(3, 2), atol=1e-5, rtol=0)
    torch.testing.assert_close(ln.var(-1, unbiased=False), var / (var + 1e-5), atol=1e-4, rtol=0)
    ms = raw.pow(2).mean(-1)
    torch.testing.assert_close(outs["rms"].pow(2).mean(-1), ms / (ms + 1e-6), atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.nn.functional.layer_norm(raw, (32,)), ln, atol=1e-5, rtol=0)


def test_standardize_uses_the_lms_own_statistics_fixed_at_build():
    from .conftest import hopfield_stage, tiny_llama

    model = tiny_llama(layers=2)

    def make(seed: int):
        return hopfield_stage(model, 5, 10.0, mem_len=8, n_sink=1, norm="standardize", seed=seed)

    a, b, other = make(0), make(0), make(1)
    assert torch.equal(a.norm_mean, b.norm_mean) and torch.equal(a.norm_std, b.norm_std)  # a pure function
    assert not torch.equal(a.norm_mean, other.norm_mean)
    assert (a.norm_std > 0).all()
    raw = hopfield_stage(model, 5, 10.0, mem_len=8, n_sink=1, norm="none", seed=0)
    obs, start = torch.rand(4, 5), torch.ones(4, dtype=torch.bool)
    a.reset(4)
    raw.reset(4)
    torch.testing.assert_close(a(obs, start), (raw(obs, start) - a.norm_mean) / a.norm_std)


def test_logits_are_fp32_exact_whatever_the_value_dtype():
    """β·sim at β = 1000 must not inherit bf16's rounding: a bf16 FrozenHopfield's logits equal the
    fp32 one's bit for bit, only its output (the value product) is rounded."""
    torch.manual_seed(0)
    emb, obs = torch.randn(300, 24), torch.rand(5, 40)
    exact = FrozenHopfield(emb, obs_dim=40, beta=1000.0)
    half = FrozenHopfield(emb, obs_dim=40, beta=1000.0, dtype=torch.bfloat16)
    assert torch.equal(half.logits(obs), exact.logits(obs))
    assert half(obs).dtype == torch.bfloat16
    torch.testing.assert_close(half(obs).float(), exact(obs), atol=0.05, rtol=0.02)
