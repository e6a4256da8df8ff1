"""helmrl's training step beside one competing single-thread process, at 1 and at 2 torch threads.

    .venv/bin/python benchmarks/oversubscription.py [--preset demo] [--agent helm] [--rounds 3]

One round = one rollout + one PPO update of the preset (``make demo``'s settings by default).
Variants, interleaved: {1, 2} torch threads × {quiet, beside a busy single-thread process}.
The competitor is a Python busy loop (what a second training run at ``--torch-threads 1`` does
to a core). Rows go to benchmarks/results/oversubscription.csv (the harness's schema).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
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
    ap.add_argument("--preset", default="demo", help="the settings of this preset")
    ap.add_argument("--agent", default="helm", help="helm, cnn or lstm")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds per variant")
    ap.add_argument("--out", type=Path, default=RESULTS / "oversubscription.csv", help="CSV to append to")
    args = ap.parse_args()
    check_out(args.out)
    cfg = preset(args.preset, args.agent).replace(total_steps=10**7)
    with tempfile.TemporaryDirectory() as d:
        tr = Trainer.from_config(cfg.validate(), Path(d), progress=False, log=lambda *_: None)
        tr.start_episodes()
        steps = cfg.batch_size
        busy: dict[str, subprocess.Popen | None] = {"p": None}

        def set_up(name: str) -> None:
            threads, competed = int(name[0]), name.endswith("busy")
            torch.set_num_threads(threads)
            if competed and busy["p"] is None:
                busy["p"] = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            if not competed and busy["p"] is not None:
                busy["p"].kill()
                busy["p"].wait()
                busy["p"] = None

        variants = {
            n: (lambda: tr.update(tr.collect()))
            for n in ("1 thread", "2 threads", "1 thread busy", "2 threads busy")
        }
        try:
            times = time_interleaved(variants, reps=args.rounds, warmup=1, before=set_up)
        finally:
            set_up("1 quiet")
        tr.envs.close()
    print(f"host: {host()}  {args.agent} --preset {args.preset}: {steps} env-steps a round")
    rows = []
    for name, ts in times.items():
        fps = steps / median(ts)
        rows.append(
            {
                "benchmark": "oversubscription",
                "case": f"{args.agent}:{args.preset}",
                "variant": name,
                "metric": "env_steps_per_s",
                "value": round(fps, 1),
                "unit": "steps/s",
            }
        )
        print(f"{name:16s} {fps:7.1f} env-steps/s  (median of {len(ts)} rounds)")
    base = steps / median(times["2 threads busy"])
    r = steps / median(times["1 thread busy"]) / base
    rows.append(
        {
            "benchmark": "oversubscription",
            "case": f"{args.agent}:{args.preset}",
            "variant": "busy",
            "metric": "1_thread_over_2_threads",
            "value": round(r, 2),
            "unit": "x",
        }
    )
    print(f"beside a busy process, 1 thread is {r:.2f}x as fast as 2")
    write_rows(args.out, rows)


if __name__ == "__main__":
    main()
