"""How distinct FrozenHopfield's retrievals are at each β, for the default LM: the five one-hot
observations of CueRecall-v0, pairwise cosine of their retrieved embeddings, per seed of P.

    .venv/bin/python experiments/hopfield_beta.py [--betas 100 300 1000 10000] [--seeds 0 1 2 3 4]

Near 1 means the LM is fed almost the same input whatever the observation.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from helmrl.frozen.frozen_hopfield import FrozenHopfield
from helmrl.frozen.language_model import load_language_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--betas",
        type=float,
        nargs="+",
        default=[100.0, 300.0, 1000.0, 10000.0],
        help="(default: 100 300 1000 10000)",
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="(default: 0-4)")
    args = ap.parse_args()
    lm = load_language_model()
    off = ~torch.eye(5, dtype=torch.bool)
    print("beta  " + "  ".join(f"seed {s}: cos(cue0,cue1) max-pair" for s in args.seeds))
    for beta in args.betas:
        cells = []
        for seed in args.seeds:
            out = FrozenHopfield(lm.token_embeddings, 5, beta, similarity="cosine", seed=seed)(torch.eye(5))
            c = F.normalize(out, dim=1) @ F.normalize(out, dim=1).T
            cells.append(f"{c[0, 1]:.2f} {c[off].max():.2f}")
        print(f"{beta:<6g}" + "  ".join(f"{x:>28s}" for x in cells))


if __name__ == "__main__":
    main()
