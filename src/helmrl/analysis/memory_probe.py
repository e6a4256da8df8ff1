"""What the frozen history remembers: linear probes of every LM layer for the observation k
steps back.

The env (a run's policy or random actions) or a synthetic source of a few distinct
observations drives a frozen stage that ``build_history_stage`` builds from the run's own
config (``Subject.variant``: its LM with lm_layers, β, similarity, projection seed, mem_len,
n_sink, history_norm, dtype and memory implementation; a bare env gets a default run's). It
differs from the trained stage only in returning the state of every layer (0 = the
FrozenHopfield inputs, n = the final state after the norm, the paper's history), each as the
run's history_norm hands it to the head (``standardize`` calibrates over all of them, so its
floor on tiny deviations, relative to their median, may differ from the trained one's).
A logistic-regression probe (scikit-learn), fitted on some envs and scored on held-out envs,
predicts the observation at t - k from the state at t: in synthetic mode the symbol's index, in
env mode the token β→∞ retrieves for it. Chance is the most frequent class of the held-out
targets.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from ..frozen.frozen_hopfield import observation_to_vector  # noqa: E402
from ..frozen.history_stage import HistoryStage


@dataclass
class Trace:
    """Inputs of one probe run: (T, N, ...) observations, episode starts and class labels."""

    obs: torch.Tensor  # (T, N, ...) raw observations
    starts: torch.Tensor  # (T, N) bool
    labels: np.ndarray  # (T, N) int: the class of each observation


def synthetic_trace(n_envs: int, steps: int, symbols: int, seed: int = 0) -> Trace:
    """Random sequences over ``symbols`` one-hot observations (one episode per env)."""
    g = torch.Generator().manual_seed(seed)
    table = torch.eye(symbols)
    labels = torch.randint(0, symbols, (steps, n_envs), generator=g)
    starts = torch.zeros(steps, n_envs, dtype=torch.bool)
    starts[0] = True
    return Trace(table[labels], starts, labels.numpy())


def env_trace(env_id: str, n_envs: int, steps: int, seed: int, agent=None, history=None) -> Trace:
    """Observations of ``n_envs`` envs under a run's policy (or random actions); labels are
    filled in by ``record_states`` (the retrieved token of each observation)."""
    from ..envs import make_vec_env
    from ..observation_keys import OBSERVATION
    from ..ppo.acting import ActingLoop

    envs = make_vec_env(env_id, n_envs)
    device = next(agent.parameters()).device if agent is not None else "cpu"
    loop = ActingLoop(envs, agent, history, device)
    loop.reset(seed)
    obs, starts = [], []
    for _ in range(steps):
        obs.append(loop.next_obs[OBSERVATION].cpu())
        starts.append(loop.next_start.cpu())
        loop.step()
    envs.close()
    return Trace(torch.stack(obs), torch.stack(starts), np.zeros((steps, n_envs), dtype=np.int64))


def every_layer(n_layers: int) -> str:
    """The ``history_layer`` setting of a stage that returns every layer's state, 0..n_layers."""
    return ",".join(str(k) for k in range(n_layers + 1))


@torch.no_grad()
def record_states(stage: HistoryStage, trace: Trace, label_tokens: bool) -> np.ndarray:
    """Every layer's state at every step, (T, N, layers + 1, m) float32, from ``stage`` (built
    with ``history_layer=every_layer(n)``), stepped as the trainer steps it: one call per step
    over the N envs, from a reset. ``label_tokens``: the labels become the token β→∞ retrieves
    for each observation, by the stage's own FrozenHopfield (its similarity and projection)."""
    n_layers = stage.lm.config.num_hidden_layers
    if stage.layers != tuple(range(n_layers + 1)):
        every = every_layer(n_layers)
        raise ValueError(f"the probe reads every layer: build the stage with history_layer={every}")
    T, N = trace.starts.shape
    if label_tokens:
        vecs = observation_to_vector(trace.obs.reshape(T * N, *trace.obs.shape[2:]))
        trace.labels = stage.input_map.nearest_tokens(vecs.to(stage.device)).view(T, N).cpu().numpy()
    stage.reset(N)
    out = [stage(trace.obs[t], trace.starts[t]).view(N, n_layers + 1, -1).cpu().numpy() for t in range(T)]
    return np.stack(out)


def episode_step(starts: torch.Tensor) -> np.ndarray:
    """(T, N) steps since each env's episode began."""
    T, N = starts.shape
    age = np.zeros((T, N), dtype=np.int64)
    for t in range(1, T):
        age[t] = np.where(starts[t].numpy(), 0, age[t - 1] + 1)
    return age


def probe(
    states: np.ndarray,
    trace: Trace,
    lags: list[int],
    layers: list[int],
    train_frac: float = 0.75,
    seed: int = 0,
    progress: bool = False,
) -> list[dict]:
    """Held-out accuracy of a linear probe per (layer, lag); envs split into train and test."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from tqdm.auto import tqdm

    T, N = trace.starts.shape
    age = episode_step(trace.starts)
    n_train = max(1, int(round(N * train_frac)))
    if n_train >= N:
        raise ValueError("need at least 2 envs: some to fit the probe, some to test it")
    results = []
    bar = tqdm(total=len(lags) * len(layers), unit="probe", disable=not progress, dynamic_ncols=True)
    for lag in lags:
        t_idx, e_idx = np.nonzero(age >= lag)  # the observation lag steps back is in the episode
        target = trace.labels[t_idx - lag, e_idx]
        train, test = e_idx < n_train, e_idx >= n_train
        classes, counts = np.unique(target[test], return_counts=True)
        chance = counts.max() / counts.sum() if len(counts) else float("nan")
        for layer in layers:
            x = states[t_idx, e_idx, layer]
            if len(np.unique(target[train])) < 2:
                acc = float("nan")  # nothing to learn: one class only
            else:
                # C=0.1: a few thousand samples of 576 features need some L2 to generalise
                model = LogisticRegression(max_iter=500, C=0.1, random_state=seed)
                clf = make_pipeline(StandardScaler(), model)
                with warnings.catch_warnings():  # lbfgs may stop short of its tolerance; the score counts
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    clf.fit(x[train], target[train])
                acc = float(clf.score(x[test], target[test]))
            results.append(
                {
                    "layer": layer,
                    "lag": lag,
                    "accuracy": acc,
                    "chance": float(chance),
                    "n_test": int(test.sum()),
                }
            )
            bar.update()
    bar.close()
    return results


def write_probe(results: list[dict], out: Path, title: str) -> dict:
    """Heat map (layer × lag) PNG, the CSV beside it, and the best layer per lag."""
    out = Path(out)
    layers = sorted({r["layer"] for r in results})
    lags = sorted({r["lag"] for r in results})
    grid = np.full((len(layers), len(lags)), np.nan)
    for r in results:
        grid[layers.index(r["layer"]), lags.index(r["lag"])] = r["accuracy"]
    fig, ax = plt.subplots(figsize=(1.2 + 0.8 * len(lags), 1.5 + 0.22 * len(layers)), dpi=120)
    im = ax.imshow(grid, aspect="auto", cmap="viridis", vmin=0, vmax=1, origin="lower")
    ax.set_xticks(range(len(lags)), [str(k) for k in lags])
    ax.set_yticks(range(len(layers)), [str(k) for k in layers])
    ax.set_xlabel("lag k (predict the observation k steps back)")
    ax.set_ylabel("layer (0 = inputs)")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label="held-out probe accuracy")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    csv_path = out.with_suffix(".csv")
    with open(csv_path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(results[0]))
        w.writeheader()
        w.writerows(results)
    best = {}
    for lag in lags:
        rows = [r for r in results if r["lag"] == lag and r["accuracy"] == r["accuracy"]]
        if rows:
            top = max(rows, key=lambda r: r["accuracy"])
            best[lag] = (top["layer"], top["accuracy"], top["chance"])
    return {"png": out, "csv": csv_path, "best": best}
