"""Videos of a trained agent: env frames with the step and return drawn in a corner."""

from __future__ import annotations

from pathlib import Path

import imageio.v2 as imageio
import numpy as np
from PIL import Image, ImageDraw

from .episodes import play_episode


def annotate(frame: np.ndarray, text: str, min_size: int = 160) -> np.ndarray:
    img = Image.fromarray(frame)
    if min(img.size) < min_size:  # tiny renders (Procgen 64 px) get scaled up to be readable
        k = int(np.ceil(min_size / min(img.size)))
        img = img.resize((img.width * k, img.height * k), Image.NEAREST)
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 0, 8 + 7 * len(text), 16], fill=(0, 0, 0))
    draw.text((4, 3), text, fill=(255, 255, 0))
    return np.asarray(img)


def record(run_dir: Path, episodes: int, out: Path, seed: int = 0, fps: int = 8) -> dict:
    """Play ``episodes`` episodes of the run's agent and write them as one GIF or MP4."""
    from ..build import eval_env_count, history_stage
    from ..runs import load_run

    cfg, envs, agent = load_run(run_dir)
    history = history_stage(envs)
    envs.close()
    n_envs = eval_env_count(cfg, 1)  # a HELMv2 run plays beside as many envs as it trained with
    frames, returns, lengths = [], [], []
    for e in range(episodes):
        ep = play_episode(cfg.env_id, seed + e, agent=agent, history=history, render=True, n_envs=n_envs)
        ret = 0.0
        for t, frame in enumerate(ep.frames):
            if t > 0:
                ret += ep.rewards[t - 1]
            frames.append(annotate(frame, f"ep {e + 1} step {t} return {ret:.2f}"))
        returns.append(ep.ret)
        lengths.append(len(ep.rewards))
    shape = max(f.shape for f in frames)
    frames = [np.pad(f, ((0, shape[0] - f.shape[0]), (0, shape[1] - f.shape[1]), (0, 0))) for f in frames]
    out = Path(out)
    if out.suffix == ".gif":
        imageio.mimsave(out, frames, duration=1000 / fps, loop=0)
    elif out.suffix == ".mp4":
        with imageio.get_writer(out, fps=fps, macro_block_size=1) as w:
            for f in frames:
                w.append_data(f)
    else:
        raise ValueError(f"--out {out}: use a .gif or .mp4 file name")
    return {"out": out, "frames": len(frames), "returns": returns, "lengths": lengths}
