"""The frozen vision encoder of HELMv2 and SHELM: a CLIP model loaded through transformers.

    f(o) = CLIP_image(processor(o))           (B, d), d = CLIP's projection width
    t(c) = CLIP_text([BOS, c, EOS])           (d,), one vocabulary token c (SHELM)

Observations go through the checkpoint's own image processor: resized to the encoder's image
size, centre-cropped and normalised with CLIP's mean and std. (The authors fed CLIP their
frames without resizing; transformers' CLIP ViTs need their own image size.) transformers has
no CLIP ResNet, so HELMv2's RN50 is replaced by a CLIP ViT; ViT-B/16 is SHELM's own encoder.

Frozen: eval mode, no gradients, fp32. It is a submodule of the history stage, so ``.to()``
moves it, while the agent's parameters, and so the optimizer, never include it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import VisionEncoderError

DEFAULT_VISION_ENCODER = "openai/clip-vit-base-patch16"
HOW_TO_GET = (
    "download a CLIP checkpoint where there is network (e.g. `hf download openai/clip-vit-base-patch16 "
    "--local-dir clip-vit-b16`) and pass its folder as --vision-encoder"
)


class FrozenCLIP(nn.Module):
    """A frozen CLIP model with its image processor (and tokenizer, which SHELM needs)."""

    def __init__(
        self, model: nn.Module, image_processor: object, tokenizer: object | None = None, name: str = ""
    ):
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.image_processor, self.tokenizer, self.name = image_processor, tokenizer, name

    @property
    def width(self) -> int:
        """d: the width of the joint image-text space (CLIP's projection_dim)."""
        return int(self.model.config.projection_dim)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.inference_mode()
    def image_features(self, obs: Tensor) -> Tensor:
        """(B, H, W, 3) RGB observations in [0, 255] -> (B, d) fp32 image embeddings."""
        if obs.ndim != 4 or obs.shape[-1] != 3:
            raise ValueError(f"CLIP reads (B, H, W, 3) RGB images, got shape {tuple(obs.shape)}")
        images = obs.float().clamp(0, 255).round().to(torch.uint8).cpu().numpy()
        pixels = self.image_processor(
            images=list(images), return_tensors="pt", input_data_format="channels_last"
        )["pixel_values"]
        out = self.model.get_image_features(pixel_values=pixels.to(self.device, torch.float32))
        return _pooled(out).float()

    @torch.inference_mode()
    def text_features(self, input_ids: Tensor, batch: int = 1024) -> Tensor:
        """(N, L) token ids of unpadded texts of one length -> (N, d) fp32 text embeddings."""
        outs = []
        for chunk in input_ids.split(batch):
            ids = chunk.to(self.device)
            out = self.model.get_text_features(input_ids=ids, attention_mask=torch.ones_like(ids))
            outs.append(_pooled(out).float())
        return torch.cat(outs) if outs else torch.zeros(0, self.width, device=self.device)


def _pooled(out: object) -> Tensor:
    """transformers 5 returns the projected features as ``pooler_output``; 4.x as a tensor."""
    return out if isinstance(out, Tensor) else out.pooler_output  # type: ignore[attr-defined]


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Without torchvision, transformers warns that it falls back to its PIL image processor:
    that is the processor meant here, so the warning would only clutter the run's log."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def _looks_like_path(name: str) -> bool:
    path = Path(name).expanduser()
    return path.is_absolute() or name.startswith((".", "~")) or path.exists()


def check_vision_encoder(name: str) -> None:
    """Refuse, before anything is built, an empty name or a path that is no folder."""
    if not name.strip():
        raise VisionEncoderError(f"HELMv2 and SHELM need --vision-encoder PATH|ID: {HOW_TO_GET}")
    if _looks_like_path(name) and not Path(name).expanduser().is_dir():
        raise VisionEncoderError(f"--vision-encoder {name}: no such folder; {HOW_TO_GET}")


def load_vision_encoder(name_or_path: str, need_tokenizer: bool = False) -> FrozenCLIP:
    """A frozen CLIP from a folder saved with save_pretrained or a (cached) hub id."""
    from transformers import AutoConfig, AutoImageProcessor, AutoTokenizer, CLIPModel

    check_vision_encoder(name_or_path)
    source = str(Path(name_or_path).expanduser()) if _looks_like_path(name_or_path) else name_or_path
    with _quiet_transformers():
        try:
            config = AutoConfig.from_pretrained(source, trust_remote_code=False)
            if config.model_type != "clip":
                raise VisionEncoderError(
                    f"--vision-encoder {name_or_path}: a {config.model_type!r} checkpoint, not CLIP; "
                    + HOW_TO_GET
                )
            model = CLIPModel.from_pretrained(source, trust_remote_code=False, dtype=torch.float32)
            processor = AutoImageProcessor.from_pretrained(source, trust_remote_code=False)
            tokenizer = None
            if need_tokenizer:
                tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
        except VisionEncoderError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as err:
            first = (str(err).splitlines() or [type(err).__name__])[0]
            raise VisionEncoderError(
                f"--vision-encoder {name_or_path}: could not load a CLIP model and its processor ({first}); "
                f"this machine may be offline: {HOW_TO_GET}"
            ) from None
    return FrozenCLIP(model, processor, tokenizer, name=name_or_path)
