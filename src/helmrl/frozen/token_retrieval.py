"""SHELM's readable memory: each observation becomes the k vocabulary tokens CLIP finds most
like it, and those tokens are what the LM reads.

    s_c(o) = cos(f(o), t(c))              for every c in V
    tokens(o) = the k tokens c of largest s_c(o), in decreasing order, as LM token ids

with f the CLIP image features, t(c) the CLIP text features of the single token c (the bare
token, as the authors' MiniGrid setting; no prompt templates), and V the tokens that *both*
tokenizers hold whole (``shared_vocabulary``), so each retrieved token is one LM input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .vision_encoder import FrozenCLIP


def shared_vocabulary(clip_tokenizer: object, lm_tokenizer: object) -> list[tuple[int, int]]:
    """(CLIP id, LM id) of every token both tokenizers hold whole, sorted by CLIP id.

    A CLIP token c with text w (decoded, stripped) is shared when w tokenises back to exactly
    [c] with CLIP (so t(c) is the embedding of that text: no word pieces, no specials), and the
    LM holds the word w as one token that decodes back to w: " w" (the word inside running
    text, as byte-level BPEs write it), or else "w" where that token starts a word
    (SentencePiece's "▁w"); a bare "w" without a word-start mark is a word piece ("d" in "ad")."""
    special = set(getattr(clip_tokenizer, "all_special_ids", []))
    ids = [i for i in range(len(clip_tokenizer)) if i not in special]  # type: ignore[arg-type]
    words = [w.strip() for w in clip_tokenizer.batch_decode([[i] for i in ids])]  # type: ignore[attr-defined]
    keep = [(i, w) for i, w in zip(ids, words, strict=True) if w]
    back = clip_tokenizer([w for _, w in keep], add_special_tokens=False)["input_ids"]  # type: ignore[operator]
    keep = [(i, w) for (i, w), b in zip(keep, back, strict=True) if list(b) == [i]]
    spaced = lm_tokenizer([" " + w for _, w in keep], add_special_tokens=False)["input_ids"]  # type: ignore[operator]
    bare = lm_tokenizer([w for _, w in keep], add_special_tokens=False)["input_ids"]  # type: ignore[operator]
    decode, piece = lm_tokenizer.decode, lm_tokenizer.convert_ids_to_tokens  # type: ignore[attr-defined]
    pairs = []
    for (i, w), s, b in zip(keep, spaced, bare, strict=True):
        # decoding back to w: a character the LM's vocabulary lacks may be dropped, not kept
        if len(s) == 1 and decode(s).strip() == w:
            pairs.append((i, int(s[0])))
        elif len(b) == 1 and decode(b).strip() == w and _starts_word(piece(int(b[0]))):
            pairs.append((i, int(b[0])))
    return pairs


def _starts_word(piece: str) -> bool:
    """A token that opens a word: byte-level BPE's "Ġ" or SentencePiece's "▁" in front."""
    return piece.startswith(("Ġ", "▁"))


class CLIPTokenRetrieval(nn.Module):
    """tokens(o) from CLIP image features; see the module docstring. Buffers only."""

    def __init__(self, clip: FrozenCLIP, lm_tokenizer: object, k: int):
        super().__init__()
        tok = clip.tokenizer
        if tok is None:
            raise ValueError("SHELM needs the CLIP checkpoint's tokenizer")
        pairs = shared_vocabulary(tok, lm_tokenizer)
        if len(pairs) < k:
            raise ValueError(
                f"the CLIP and LM tokenizers share {len(pairs)} whole tokens, fewer than top_k = {k}"
            )
        self.k = k
        clip_ids = torch.tensor([c for c, _ in pairs])
        bos, eos = tok.bos_token_id, tok.eos_token_id  # type: ignore[attr-defined]
        texts = torch.stack([torch.full_like(clip_ids, bos), clip_ids, torch.full_like(clip_ids, eos)], dim=1)
        keys = F.normalize(clip.text_features(texts), dim=1)
        self.register_buffer("clip_ids", clip_ids)
        self.register_buffer("lm_ids", torch.tensor([t for _, t in pairs]))
        self.register_buffer("keys", keys.cpu())  # (V, d), unit rows

    @torch.no_grad()
    def similarities(self, features: Tensor) -> Tensor:
        """s: (B, d) image features -> (B, V) cosines with every shared token."""
        return F.normalize(features.float(), dim=1) @ self.keys.t()

    @torch.no_grad()
    def forward(self, features: Tensor) -> Tensor:
        """(B, d) image features -> (B, k) LM token ids, most similar first."""
        top = self.similarities(features).topk(self.k, dim=1).indices
        return self.lm_ids[top]
