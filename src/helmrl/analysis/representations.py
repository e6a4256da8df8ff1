"""What the frozen parts do with observations: distances, words, attention (the paper's figures),
and what SHELM's LM read.

Each function reads the frozen stage it is given (``helmrl.analysis.subject``: a run's own, built
from its config, or a bare env's default), never a FrozenHopfield or mask of its own: the words
are the argmax of the stage's own similarity (cosine or dot) and projection seed, the attention
is the LM's over the stage's inputs within its memory window (mem_len, n_sink).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from ..frozen.frozen_hopfield import (
    FrozenHopfield,
    observation_to_vector,  # noqa: E402
)
from ..frozen.history_stage import HistoryStage
from ..frozen.lm_memory import streaming_attention_mask
from .episodes import Episode  # noqa: E402


def _vectors(observations: np.ndarray) -> torch.Tensor:
    return observation_to_vector(torch.as_tensor(np.asarray(observations)))


def _save(fig: plt.Figure, out: Path, data: dict) -> None:
    """The figure at ``out`` and its data as JSON beside it."""
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    Path(out).with_suffix(".json").write_text(json.dumps(data, indent=2))


def _panels(images: list, titles: list[str], size: tuple[float, float], fontsize: int) -> plt.Figure:
    """One panel per step, up to 8 a row: its image (what the agent saw) under its title."""
    cols = min(8, len(titles))
    rows = int(np.ceil(len(titles) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows), dpi=120, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(titles):
            ax.imshow(images[i])
            ax.set_title(titles[i], fontsize=fontsize)
    return fig


def distance_analysis(observations: np.ndarray, hopfields: dict[float, FrozenHopfield], out: Path) -> dict:
    """Pairwise Euclidean distances in observation space and of FrozenHopfield outputs per β,
    with the Spearman rank correlation of each against the observation distances (JL argument).

    ``hopfields`` maps each β to the stage's FrozenHopfield at that β (``Subject.hopfield_at``),
    so every other setting (similarity, projection seed, LM) is the stage's."""
    vec = _vectors(observations)
    d_obs = torch.cdist(vec, vec)
    iu = np.triu_indices(len(vec), k=1)
    mats, corr = [d_obs.numpy()], {}
    betas = list(hopfields)
    for beta, fh in hopfields.items():
        x = fh(vec.to(fh.embeddings.device)).float().cpu()
        d = torch.cdist(x, x).numpy()
        mats.append(d)
        rho = spearmanr(d_obs.numpy()[iu], d[iu]).statistic if len(iu[0]) > 1 else float("nan")
        corr[str(beta)] = float(rho)
    fig, axes = plt.subplots(1, len(mats), figsize=(3.2 * len(mats), 3.2), dpi=120)
    titles = ["observations"] + [f"β={b:g}  ρ={corr[str(b)]:.2f}" for b in betas]
    for ax, m, title in zip(np.atleast_1d(axes), mats, titles, strict=True):
        im = ax.imshow(m, cmap="viridis")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle("pairwise distances: observation space vs FrozenHopfield outputs", fontsize=10)
    data = {"n_observations": len(vec), "spearman_vs_observation": corr}
    _save(fig, out, data)
    np.savez_compressed(
        Path(out).with_suffix(".npz"),
        observation=mats[0],
        **{f"beta_{b:g}": m for b, m in zip(betas, mats[1:], strict=True)},
    )
    return data


def _decode(tokenizer: object | None, token: int) -> str:
    if tokenizer is None:
        return f"<{token}>"
    text = tokenizer.decode([token])  # type: ignore[attr-defined]
    return text.strip() or repr(text)


def word_trace(
    episode: Episode, hopfield: FrozenHopfield, tokenizer: object | None, out: Path, max_panels: int = 24
) -> dict:
    """The token β→∞ retrieves for every observation of an episode: the argmax of ``hopfield``'s
    logits, i.e. of the stage's own similarity (cosine and dot pick different tokens) and
    projection. The observations go in an NPZ beside the PNG, so the words can be checked."""
    obs = np.stack(episode.observations)
    vec = _vectors(obs).to(hopfield.embeddings.device)
    tokens = hopfield.nearest_tokens(vec).cpu().tolist()
    words = [_decode(tokenizer, t) for t in tokens]
    titles = [f"t={i}\n{textwrap.shorten(w, 14)}" for i, w in enumerate(words[:max_panels])]
    fig = _panels(episode.observations, titles, (1.6, 1.9), fontsize=7)
    data = {"tokens": tokens, "words": words, "distinct_words": len(set(tokens)), "steps": len(tokens)}
    _save(fig, out, data)
    np.savez_compressed(Path(out).with_suffix(".npz"), observations=obs, tokens=np.asarray(tokens))
    return data


@torch.no_grad()
def attention_maps(
    episode: Episode, stage: HistoryStage, out: Path, heads: int = 4, max_steps: int = 64
) -> dict:
    """Self-attention of the stage's LM over one episode's FrozenHopfield inputs, for heads of an
    early, a middle and the last layer (timestep × timestep), and each map's most-attended steps.

    The attention is the memory's: each step sees the episode's first ``n_sink`` steps and the
    last ``mem_len - n_sink`` (``streaming_attention_mask``; one masked forward over the episode
    equals the streaming memory's steps), so keys outside the trained window get exactly 0."""
    obs = torch.as_tensor(np.stack(episode.observations[:max_steps]))
    x = stage.inputs(obs).float()[None]
    steps = x.shape[1]
    allowed = streaming_attention_mask(steps, stage.mem_len, stage.n_sink).to(x.device)
    mask = torch.zeros(allowed.shape, device=x.device).masked_fill(~allowed, torch.finfo(torch.float32).min)
    model = stage.lm
    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")  # the fused kernels do not return attention weights
    try:
        outputs = model(
            inputs_embeds=x,
            attention_mask=mask[None, None],
            position_ids=torch.arange(steps, device=x.device)[None],
            output_attentions=True,
        )
    finally:
        model.set_attn_implementation(previous)
    att = [a[0].float().cpu() for a in outputs.attentions]  # per layer: (heads, T, T)
    seen_by = allowed.sum(0).cpu()  # queries whose window holds each key step
    n_layers = len(att)
    layers = sorted({0, n_layers // 2, n_layers - 1})
    heads = min(heads, att[0].shape[0])
    fig, axes = plt.subplots(
        len(layers), heads, figsize=(2.6 * heads, 2.6 * len(layers)), dpi=120, squeeze=False
    )
    summary = []
    for r, layer in enumerate(layers):
        for h in range(heads):
            m = att[layer][h]
            # Mean attention a step receives from the queries that can see it (in their window).
            # Step 0 is the LM's attention sink; the most-attended steps are reported without it.
            received = m.sum(0) / seen_by
            top = (torch.topk(received[1:], k=min(3, len(received) - 1)).indices + 1).tolist()
            sink = float(m[:, 0].mean())
            summary.append({"layer": layer, "head": h, "top_steps": top, "sink_share": sink})
            ax = axes[r, h]
            vmax = float(m[1:, 1:].max()) if m.shape[0] > 1 else 1.0  # colour scale without the sink
            ax.imshow(m.numpy(), cmap="magma", vmin=0, vmax=vmax)
            ax.set_title(f"layer {layer} head {h}\ntop {top} (sink {sink:.2f})", fontsize=8)
            ax.set_xlabel("key step", fontsize=7)
            ax.set_ylabel("query step", fontsize=7)
    data = {
        "steps": steps,
        "mem_len": stage.mem_len,
        "n_sink": stage.n_sink,
        "layers": layers,
        "maps": summary,
    }
    _save(fig, out, data)
    torch.save({f"layer{i}": att[i][:heads].clone() for i in layers}, Path(out).with_suffix(".pt"))
    return data


def fed_tokens(
    episode: Episode, stage: HistoryStage, lm_tokenizer: object, out: Path, max_panels: int = 24
) -> dict:
    """SHELM's memory is readable by construction: at every step its LM reads the k tokens of the
    vocabulary CLIP and the LM share whose CLIP text embeddings are nearest the observation's CLIP
    image embedding (``helmrl.frozen.token_retrieval``). Those tokens at every step of
    ``episode``: ids, words, a PNG and a JSON."""
    tokens = stage.encode(torch.as_tensor(np.stack(episode.observations))).cpu().tolist()  # (T, k) ids
    words = [[_decode(lm_tokenizer, t) for t in row] for row in tokens]
    titles = [f"t={i}\n" + "\n".join(textwrap.shorten(w, 14) for w in ws) for i, ws in enumerate(words)]
    fig = _panels(episode.observations, titles[:max_panels], (1.7, 2.1), fontsize=6)
    data = {"tokens": tokens, "words": words, "steps": len(tokens), "top_k": stage.tokens_per_step}
    _save(fig, out, data)
    return data
