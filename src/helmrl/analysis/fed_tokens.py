"""What SHELM's LM read: the k tokens each observation of an episode was fed as, in words.

SHELM's memory is readable by construction: at every step the LM reads the k tokens of the
vocabulary CLIP and the LM share whose CLIP text embeddings are most similar to the
observation's CLIP image embedding (``helmrl.frozen.token_retrieval``). This decodes them.
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

from ..frozen.history_stage import HistoryStage  # noqa: E402
from .episodes import Episode  # noqa: E402


def token_trace(
    episode: Episode, stage: HistoryStage, lm_tokenizer: object, out: Path, max_panels: int = 24
) -> dict:
    """The tokens SHELM fed its LM at every step of ``episode``: ids, words, a PNG and a JSON."""
    tokens = stage.encode(torch.as_tensor(np.stack(episode.observations))).cpu().tolist()  # SHELM's: ids
    decode = lm_tokenizer.decode  # type: ignore[attr-defined]
    words = [[decode([t]).strip() or repr(decode([t])) for t in row] for row in tokens]
    shown = min(len(tokens), max_panels)
    cols = min(8, shown)
    rows = int(np.ceil(shown / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.7 * cols, 2.1 * rows), dpi=120, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < shown:
            ax.imshow(episode.observations[i])
            label = "\n".join(textwrap.shorten(w, 14) for w in words[i])
            ax.set_title(f"t={i}\n{label}", fontsize=6)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    data = {"tokens": tokens, "words": words, "steps": len(tokens), "top_k": stage.tokens_per_step}
    Path(out).with_suffix(".json").write_text(json.dumps(data, indent=2))
    return data
