"""Learning-curve plots from metrics.csv."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402

from ..ppo.metrics import read_metrics  # noqa: E402


def plot_learning_curve(run_dir: Path, out: Path | None = None) -> Path:
    """Return (mean of the last episodes) against env steps for one run -> PNG path."""
    run_dir = Path(run_dir)
    rows = read_metrics(run_dir)
    out = out or run_dir / "learning_curve.png"
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    steps = [r["step"] for r in rows]
    ax.plot(steps, [r["episode_return_mean"] for r in rows], lw=1.5)
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode return (recent mean)")
    ax.set_title(run_dir.name, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
