import torch

from helmrl.models import FrozenHistory

from .conftest import tiny_llama


def test_retrieval_cache_is_exact_and_bounded():
    model = tiny_llama()
    cached = FrozenHistory(model, obs_dim=5 * 5, beta=50.0, mem_len=4, n_sink=1, cache_size=6)
    plain = FrozenHistory(model, obs_dim=5 * 5, beta=50.0, mem_len=4, n_sink=1, cache_size=0)
    g = torch.Generator().manual_seed(0)
    pool = torch.randint(0, 256, (5, 5, 5, 3), generator=g, dtype=torch.uint8)
    for _ in range(6):
        obs = pool[torch.randint(0, 5, (4,), generator=g)]  # repeats within and across batches
        torch.testing.assert_close(
            cached.retrieve(obs), plain.retrieve(obs), atol=1e-6, rtol=0
        )  # batch size alone changes fp32 rounding
        assert len(cached._cache) <= 6
    cached.reset(2)
    plain.reset(2)
    obs, start = pool[:2], torch.tensor([True, True])
    torch.testing.assert_close(
        cached(obs, start), plain(obs, start), atol=1e-6, rtol=0
    )  # batch size alone changes fp32 rounding
