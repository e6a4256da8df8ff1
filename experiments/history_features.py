"""Why a random-init LM serves HELM as well as SmolLM2 on CueRecall: what the head is given.

    .venv/bin/python experiments/history_features.py [--n-envs 64] [--steps 200]

Drives CueRecall-v0 with random actions through FrozenHopfield and the streaming memory (as in
training, fp32) for SmolLM2-135M and for `random-init` (same shapes, fresh weights), and at
each question step (the only step that earns reward) asks of the state of layers 4, 15 and 30:
- can a linear probe name the cue shown 4 steps earlier? Fitted on 3/4 of the envs, scored on
  the rest, once on standardised features (is the information there at all?) and once on the
  raw features the PPO head receives (is it there at a scale a lightly regularised linear
  read-out finds?);
- how the raw features are scaled: mean L2 norm, and the largest per-dimension standard
  deviation over the median one (SmolLM2's final state has a few huge dimensions).
Prints the table and writes benchmarks/results/history_features.csv.

Then, what the head's first layer is given on RandomMaze-v0 and KeyCorridorS3R1 (random
actions, 16 envs × 60 steps, each env's preset): the norm and the largest entry of SmolLM2's
history against those of the freshly initialised CNN's features it is concatenated with
(history_vs_cnn.csv beside it).
"""

from __future__ import annotations

import argparse
import csv
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from helmrl.analysis.memory_probe import env_trace, every_layer, record_states
from helmrl.frozen.history_config import HistoryConfig
from helmrl.frozen.history_stage import build_history_stage
from helmrl.frozen.language_model import load_language_model

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
LAYERS = (4, 15, 30)


def question_samples(trace, delay: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t, env, cue) of every question step whose cue lies inside the trace."""
    obs = trace.obs.numpy()  # (T, N, 5): cue0, cue1, question, distractor0, distractor1
    t_idx, e_idx = np.nonzero(obs[:, :, 2] == 1.0)
    keep = t_idx >= delay
    t_idx, e_idx = t_idx[keep], e_idx[keep]
    cue_obs = obs[t_idx - delay, e_idx]
    ok = cue_obs[:, :2].sum(1) == 1.0  # the step `delay` back is the cue (always, by the env)
    return t_idx[ok], e_idx[ok], cue_obs[ok, :2].argmax(1)


def probe_accuracy(x: np.ndarray, y: np.ndarray, train: np.ndarray, standardise: bool) -> float:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = LogisticRegression(max_iter=2000, C=0.1, random_state=0)
    clf = make_pipeline(StandardScaler(), model) if standardise else model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x[train], y[train])
    return float(clf.score(x[~train], y[~train]))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--n-envs", type=int, default=64, help="CueRecall envs (3/4 fit the probe)")
    ap.add_argument("--steps", type=int, default=200, help="random-action steps per env")
    ap.add_argument(
        "--out", type=Path, default=RESULTS / "history_features.csv", help="history_vs_cnn.csv goes beside it"
    )
    args = ap.parse_args()
    torch.manual_seed(0)
    trace = env_trace("CueRecall-v0", args.n_envs, args.steps, seed=0)
    t_idx, e_idx, cue = question_samples(trace)
    train = e_idx < int(args.n_envs * 0.75)
    print(f"{len(cue)} question steps ({train.sum()} fit, {(~train).sum()} test), cue-1 {cue.mean():.2f}")
    rows = []
    for lm in ("smollm2-135m", "random-init"):
        t0 = time.perf_counter()
        model = load_language_model(lm, seed=0).model
        cfg = HistoryConfig(
            lm=lm,
            beta=100.0,
            mem_len=16,
            n_sink=4,
            frozen_dtype="float32",
            history_layer=every_layer(model.config.num_hidden_layers),
        )
        stage = build_history_stage(cfg, tuple(trace.obs.shape[2:]), "cpu", model)
        states = record_states(stage, trace, label_tokens=False)
        for layer in LAYERS:
            x = states[t_idx, e_idx, layer].astype(np.float64)
            sd = states[:, :, layer].reshape(-1, states.shape[-1]).std(0)
            rows.append(
                {
                    "lm": lm,
                    "layer": layer,
                    "probe_standardised": round(probe_accuracy(x, cue, train, True), 3),
                    "probe_raw": round(probe_accuracy(x, cue, train, False), 3),
                    "mean_l2_norm": round(float(np.linalg.norm(x, axis=1).mean()), 2),
                    "max_sd_over_median_sd": round(float(sd.max() / np.median(sd)), 1),
                    "n_test": int((~train).sum()),
                }
            )
        print(f"{lm}: {time.perf_counter() - t0:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"{'lm':14s} layer  probe(std)  probe(raw)  |x|  max/median sd")
    for r in rows:
        print(
            f"{r['lm']:14s} {r['layer']:5d}  {r['probe_standardised']:10.3f}  {r['probe_raw']:10.3f}"
            f"  {r['mean_l2_norm']:6.1f}  {r['max_sd_over_median_sd']:8.1f}"
        )
    print(f"written {args.out} (chance 0.5)")
    head_inputs(args.out.with_name("history_vs_cnn.csv"))


def head_inputs(out: Path) -> None:
    from helmrl.config import preset
    from helmrl.frozen.history_stage import build_history_stage
    from helmrl.models.agents import agent_class

    rows = []
    for env, name in (("RandomMaze-v0", "randommaze"), ("MiniGrid-KeyCorridorS3R1-v0", "keycorridor")):
        torch.manual_seed(0)
        cfg = preset(name).replace(agent="helm", n_envs=16)
        trace = env_trace(env, 16, 60, seed=0)
        shape = tuple(trace.obs.shape[2:])
        history = build_history_stage(cfg.history, shape, torch.device("cpu"))
        history.reset(16)
        h = torch.cat([history(trace.obs[t], trace.starts[t]) for t in range(60)])
        agent = agent_class("helm").from_config(cfg.net, shape, 4, h.shape[1])
        with torch.no_grad():
            f = agent.encoder(trace.obs.reshape(-1, *shape))
        sd = h.std(0)
        rows.append(
            {
                "env": env,
                "history_norm": round(h.norm(dim=1).mean().item(), 1),
                "history_max_entry": round(h.abs().max(dim=1).values.mean().item(), 1),
                "history_sd_max_over_median": round((sd.max() / sd.median()).item(), 1),
                "cnn_norm": round(f.norm(dim=1).mean().item(), 2),
                "cnn_max_entry": round(f.abs().max(dim=1).values.mean().item(), 2),
            }
        )
        r = rows[-1]
        print(
            f"{env}: history |h| {r['history_norm']} (largest entry {r['history_max_entry']}), "
            f"CNN features |f| {r['cnn_norm']} (largest {r['cnn_max_entry']}): "
            f"{r['history_norm'] / r['cnn_norm']:.0f}x"
        )
    with open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"written {out}")


if __name__ == "__main__":
    main()
