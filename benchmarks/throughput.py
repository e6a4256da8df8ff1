"""Throughput of HELM and the baselines at 16 envs on MiniGrid-KeyCorridorS3R1 (one process).

    .venv/bin/python benchmarks/throughput.py [--n-envs 16] [--updates 6]

Prints a table and writes benchmarks/results/throughput.csv. Medians over repeated timings;
every figure in one table comes from this one run on this one machine.
"""

from __future__ import annotations

import argparse
import csv
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from helmrl.config import TrainConfig
from helmrl.models import FrozenHopfield, load_language_model, make_lm_memory
from helmrl.models.language_model import cpu_has_fast_bf16
from helmrl.ppo import Trainer

ENV = "MiniGrid-KeyCorridorS3R1-v0"
RESULTS = Path(__file__).parent / "results"


def median_time(fn, reps: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def lm_step_time(memory, x: torch.Tensor, at_step: int, reps: int) -> float:  # noqa: ANN001
    """Median time of one 16-env LM step once every env's episode is ``at_step`` steps old."""
    memory.reset()
    start, go = torch.ones(x.shape[0], dtype=torch.bool), torch.zeros(x.shape[0], dtype=torch.bool)
    memory(x, start)
    for _ in range(at_step - 1):
        memory(x, go)
    times = []
    for _ in range(reps):  # stays in the steady state: the ring buffer is full from here on
        t = time.perf_counter()
        memory(x, go)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def training_fps(agent: str, n_envs: int, updates: int, lm_model=None) -> tuple[float, float]:  # noqa: ANN001
    """(rollout-only env-steps/s, full-training env-steps/s) with the keycorridor preset."""
    cfg = TrainConfig(
        env_id=ENV,
        agent=agent,
        n_envs=n_envs,
        lr=3e-4,
        rollout_steps=32,
        total_steps=n_envs * 32 * updates,
        checkpoint_every=10**6,
    ).validate()
    with tempfile.TemporaryDirectory() as d:
        from helmrl.models import build_agent

        prebuilt = build_agent(cfg, (56, 56, 3), 7, lm_model=lm_model) if agent == "helm" else None
        trainer = Trainer(cfg, Path(d), progress=False, agent=prebuilt)
        trainer._sync()
        trainer.collect_rollout()  # warm-up (caches, allocator)
        t = time.perf_counter()
        for _ in range(2):
            trainer.collect_rollout()
        rollout_fps = 2 * cfg.batch_size / (time.perf_counter() - t)
        trainer.update = 0
        trainer.global_step = 0
        t = time.perf_counter()
        trainer.train()
        full_fps = cfg.total_steps / (time.perf_counter() - t)
    return rollout_fps, full_fps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-envs", type=int, default=16)
    ap.add_argument("--updates", type=int, default=6)
    ap.add_argument("--mem-len", type=int, default=64)
    ap.add_argument("--reps", type=int, default=30)
    args = ap.parse_args()
    n, L = args.n_envs, args.mem_len
    rows: list[tuple[str, float, str]] = []

    def row(name: str, value: float, unit: str) -> None:
        rows.append((name, value, unit))
        print(f"{name:58s} {value:10.1f} {unit}", flush=True)

    lm = load_language_model()
    fh = FrozenHopfield(lm.token_embeddings, 56 * 56, beta=100.0)
    obs = torch.rand(n, 56 * 56)
    x = fh(obs)

    # (a) the frozen LM step alone, and the levers measured side by side
    fast = make_lm_memory(lm.model, n, L, 4)
    t_fast = lm_step_time(fast, x, 8, args.reps)
    row("(a) LM step alone, fast memory (env-steps/s)", n / t_fast, "steps/s")
    if fast._packed:  # the same decoder with plain matmuls: the oneDNN pre-packing lever
        plain = make_lm_memory(lm.model, n, L, 4, prepack=False)
        t_plain = lm_step_time(plain, x, 8, args.reps)
        row("    same decoder without oneDNN packing (env-steps/s)", n / t_plain, "steps/s")
        del plain
    hf = make_lm_memory(lm.model, n, L, 4, implementation="hf")
    t_hf = lm_step_time(hf, x, 8, max(5, args.reps // 3))
    row("    transformers forward with a KV cache (env-steps/s)", n / t_hf, "steps/s")
    del hf

    t8 = lm_step_time(fast, x, 8, args.reps)
    t_long = lm_step_time(fast, x, 4 * L, args.reps)
    row("LM step time at t=8 (ms)", 1e3 * t8, "ms")
    row(f"LM step time at t=4*mem_len={4 * L} (ms)", 1e3 * t_long, "ms")
    row("    ratio t=4*mem_len / t=8", t_long / t8, "x")

    t_fh = median_time(lambda: fh(obs), args.reps)
    row("FrozenHopfield, full 49k vocabulary, uncached (ms per step)", 1e3 * t_fh, "ms")

    # (b)-(d) rollout and full training
    roll, full = training_fps("helm", n, args.updates, lm.model)
    row("(b) HELM rollout (env-steps/s)", roll, "steps/s")
    row("(c) HELM full training, rollout + PPO update (env-steps/s)", full, "steps/s")
    row("    HELM full training / LM step alone", full / (n / t_fast), "x")
    for agent in ("lstm", "cnn"):
        _, f = training_fps(agent, n, args.updates)
        row(f"(d) {agent} full training (env-steps/s)", f, "steps/s")
    row("peak RSS (MB)", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MB")

    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "throughput.csv", "w", newline="") as fh_out:
        w = csv.writer(fh_out)
        w.writerow(["metric", "value", "unit", "date", "machine", "threads", "fast_bf16"])
        stamp = time.strftime("%Y-%m-%d")
        machine = f"{platform.processor() or platform.machine()} {torch.get_num_threads()} threads"
        for name, value, unit in rows:
            w.writerow(
                [
                    name.strip(),
                    f"{value:.3f}",
                    unit,
                    stamp,
                    machine,
                    torch.get_num_threads(),
                    cpu_has_fast_bf16(),
                ]
            )
    print(
        f"written {RESULTS / 'throughput.csv'}  (python {sys.version.split()[0]}, torch {torch.__version__})"
    )


if __name__ == "__main__":
    main()
