"""HELM's full training against CNN-PPO (or against HELM with a trainable read) at the same
settings, in one process, interleaved.

    .venv/bin/python benchmarks/training_ratio.py [--n-envs 16] [--rounds 6] [--threads 0] [--versus cnn]

Both agents take ``--preset keycorridor``'s HELM settings (lr 3e-4, 32 rollout steps, 512 slots,
β = 1000), so the only difference is HELM's frozen history. One round = one rollout + one PPO
update; rounds alternate between the agents after ``--warmup`` rounds each (caches, allocator,
and HELM's episodes past their first steps). HELM does all of CNN-PPO's work plus the frozen
history, so the ratio is at most t_cnn / (t_cnn + t_history) (benchmarks/lm_step.py times the
LM step). ``--versus attention`` (or ``window``) times HELM with that ``history_read`` instead of
CNN-PPO: the same frozen step, plus the trainable read over the episode's last W states in acting
and in every epoch of the update. Rows go to benchmarks/results/training_ratio.csv (the harness's
schema).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from harness import RESULTS, check_out, host, median, time_interleaved, write_rows

from helmrl.config import preset
from helmrl.ppo.trainer import Trainer


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--n-envs", type=int, default=16, help="envs per trainer")
    ap.add_argument("--rounds", type=int, default=6, help="timed rounds per agent")
    ap.add_argument("--warmup", type=int, default=3, help="untimed rounds per agent first")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument(
        "--versus",
        choices=["cnn", "attention", "window"],
        default="cnn",
        help="CNN-PPO, or HELM with the attention or the window read",
    )
    ap.add_argument("--out", type=Path, default=RESULTS / "training_ratio.csv", help="CSV to append to")
    args = ap.parse_args()
    check_out(args.out)
    if args.threads:
        torch.set_num_threads(args.threads)
    base = preset("keycorridor", "helm").replace(
        n_envs=args.n_envs, total_steps=10**7, checkpoint_every=10**6
    )
    other = base.replace(agent="cnn") if args.versus == "cnn" else base.replace(history_read=args.versus)
    # the attention read's steps-back gain changed its learning (CHANGELOG), so the rows name it
    label = f"attention-g{other.net.read_offset_gain:g}" if args.versus == "attention" else args.versus
    with tempfile.TemporaryDirectory() as d:
        trainers = {
            a: Trainer.from_config(cfg.validate(), Path(d) / a, progress=False, log=lambda *_: None)
            for a, cfg in (("helm", base), (label, other))
        }
        for tr in trainers.values():
            tr.start_episodes()
        rounds = {a: (lambda tr=tr: tr.update(tr.collect())) for a, tr in trainers.items()}
        times = time_interleaved(rounds, reps=args.rounds, warmup=args.warmup)
        for tr in trainers.values():
            tr.envs.close()
    n = base.batch_size
    fps = {a: n / median(ts) for a, ts in times.items()}
    ratio = fps["helm"] / fps[label]
    print(f"host: {host()}")
    for a, f in fps.items():
        print(f"{a:9s} {f:7.1f} env-steps/s (median of {args.rounds} rounds of {n} env-steps)")
    print(f"helm / {label}: {ratio:.2f}")
    case, row = f"keycorridor n_envs={args.n_envs}", {"benchmark": "training_ratio"}
    rows = [
        {
            **row,
            "case": case,
            "variant": a,
            "metric": "env_steps_per_s",
            "value": round(f, 1),
            "unit": "steps/s",
        }
        for a, f in fps.items()
    ]
    rows.append(
        {
            **row,
            "case": case,
            "variant": f"helm/{label}",
            "metric": "ratio",
            "value": round(ratio, 3),
            "unit": "x",
        }
    )
    write_rows(args.out, rows)


if __name__ == "__main__":
    main()
