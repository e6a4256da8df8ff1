"""Throughput of HELM and the baselines on MiniGrid-KeyCorridorS3R1, every figure from one run.

    .venv/bin/python benchmarks/throughput.py [--device auto|cpu|cuda] [--n-envs 16 32 64]
        [--lm smollm2-135m|random-init|PATH] [--updates 3] [--reps 20]

For each n_envs, env-steps/s of
  (a) the naive Hugging Face fp32 KV-cached step of the same LM (helmrl's generic `hf` memory),
  (b) helmrl's LM step alone (the path `--frozen-dtype auto` picks on this host),
  (c) HELM full training (rollout + PPO update, keycorridor preset settings),
  (d) CNN-PPO and LSTM (Impala-PPO) full training,
plus the achieved GFLOP/s of (b) and of the LM inside (c) against a large GEMM of the same
dtype timed in this run, the step time at t = 8 vs t = 4 × mem_len, and peak memory.
Medians over repeated timings. Writes benchmarks/results/throughput-<device>.csv.
`--lm random-init` (SmolLM2's shapes, fresh weights) times the same arithmetic where the
weights are not installed (e.g. a GPU machine): speed does not depend on the weights' values.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch

from helmrl.config import preset
from helmrl.devices import describe_device, resolve_device
from helmrl.frozen import FrozenHopfield, load_language_model, make_lm_memory
from helmrl.frozen.precision import cpu_has_fast_bf16, resolve_frozen_dtype
from helmrl.ppo import Trainer

ENV = "MiniGrid-KeyCorridorS3R1-v0"
RESULTS = Path(__file__).parent / "results"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_time(fn, reps: int, device: torch.device) -> float:
    fn()
    times = []
    for _ in range(reps):
        sync(device)
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def gemm_gflops(dtype: torch.dtype, device: torch.device, size: int = 2048) -> float:
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    t = median_time(lambda: a @ b, 10, device)
    return 2 * size**3 / t / 1e9


def thin_gemm_gflops(memory, intermediate: int, n: int, device: torch.device, reps: int) -> float:
    """The ceiling of (b): GFLOP/s of one decoder layer's four GEMMs alone, at n rows, with the
    memory's own (pre-packed) weights and nothing between them."""
    d, attn = memory.hidden_size, memory.n_heads * memory.head_dim
    ins = {"0.qkv": d, "0.o": attn, "0.gate_up": d, "0.down": intermediate}
    xs = {k: torch.randn(n, k_in, device=device) for k, k_in in ins.items()}
    flops = sum(2 * n * ins[k] * memory._mm(xs[k], k).shape[-1] for k in ins)
    t = median_time(lambda: [memory._mm(xs[k], k) for k in ins], reps, device)
    return flops / t / 1e9


def lm_linear_params(model: torch.nn.Module) -> int:
    """Parameters of the linears one decoder step multiplies (not embeddings, not the LM head)."""
    return sum(m.weight.numel() for m in model.model.layers.modules() if isinstance(m, torch.nn.Linear))


def lm_step_time(memory, x: torch.Tensor, at_step: int, reps: int, device: torch.device) -> float:
    """Median time of one LM step once every env's episode is ``at_step`` steps old."""
    memory.reset()
    n = x.shape[0]
    start = torch.ones(n, dtype=torch.bool, device=device)
    go = torch.zeros(n, dtype=torch.bool, device=device)
    memory(x, start)
    for _ in range(at_step - 1):
        memory(x, go)
    return median_time(lambda: memory(x, go), reps, device)


def training_fps(
    agent: str,
    n_envs: int,
    updates: int,
    device: str,
    lm: str,
    vec_env: str,
    lm_model=None,
) -> float:
    """Full-training env-steps/s (rollout + update) with the keycorridor preset, after one
    warm-up update."""
    cfg = (
        preset("keycorridor")
        .replace(agent=agent, n_envs=n_envs, device=device, lm=lm, vec_env=vec_env, checkpoint_every=10**6)
        .replace(total_steps=n_envs * 32 * (updates + 1))
        .validate()
    )
    with tempfile.TemporaryDirectory() as d:
        trainer = Trainer.from_config(cfg, Path(d), progress=False, lm_model=lm_model, log=lambda *_: None)
        trainer.start_episodes()
        trainer.update(trainer.collect())  # warm-up: caches, allocator, cuDNN autotune
        sync(trainer.device)
        t = time.perf_counter()
        for _ in range(updates):
            trainer.update(trainer.collect())
        sync(trainer.device)
        fps = updates * cfg.batch_size / (time.perf_counter() - t)
        trainer.envs.close()
    return fps


def host_description(device: torch.device) -> str:
    """helmrl's device record, plus any kernel ISA caps in force (see cpu_has_fast_bf16)."""
    if device.type == "cuda":
        return f"{describe_device(device)} (torch {torch.__version__})"
    caps = [
        f"{k}={os.environ[k]}"
        for k in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS")
        if os.environ.get(k)
    ]
    return describe_device(device) + (f", kernels capped: {' '.join(caps)}" if caps else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--n-envs", type=int, nargs="+", default=[16, 32, 64])
    ap.add_argument("--lm", default="smollm2-135m")
    ap.add_argument("--updates", type=int, default=3)
    ap.add_argument("--mem-len", type=int, default=64)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--skip-training", action="store_true", help="LM step figures only")
    ap.add_argument("--vec-env", default="auto", help="sync | async | auto (async on >= 8 CPUs)")
    args = ap.parse_args()
    device = resolve_device(args.device)
    L = args.mem_len
    dtype = resolve_frozen_dtype("auto", device)
    rows: list[tuple[str, float, str]] = []

    def row(name: str, value: float, unit: str) -> None:
        rows.append((name, value, unit))
        print(f"{name:62s} {value:10.1f} {unit}", flush=True)

    print(f"host: {host_description(device)}; frozen dtype {dtype}; vec_env {args.vec_env}", flush=True)
    lm = load_language_model(args.lm)
    lm.model.to(device)
    flops_per_env_step = 2 * lm_linear_params(lm.model)
    gemm = {d: gemm_gflops(d, device) for d in (torch.float32, dtype)}
    for d, g in gemm.items():
        row(f"large GEMM 2048^3 {str(d).removeprefix('torch.')} (GFLOP/s)", g, "GFLOP/s")
    fh = FrozenHopfield(lm.token_embeddings, 56 * 56, beta=100.0).to(device)

    for n in args.n_envs:
        x = fh(torch.rand(n, 56 * 56, device=device))
        # (a) naive: transformers' own forward with a KV cache, fp32
        naive = make_lm_memory(lm.model, n, L, 4, torch.float32, implementation="hf")
        t_naive = lm_step_time(naive, x, 8, max(5, args.reps // 2), device)
        del naive
        lm.model.float()  # the hf memory casts the model; undo before the fast path reads it
        row(f"[n={n}] (a) naive HF fp32 KV-cached LM step (env-steps/s)", n / t_naive, "steps/s")
        fast = make_lm_memory(lm.model, n, L, 4, dtype)
        t_fast = lm_step_time(fast, x, 8, args.reps, device)
        packed = " pre-packed" if getattr(fast, "_packed", False) else ""
        row(f"[n={n}] (b) helmrl LM step, {str(dtype)[6:]}{packed} (env-steps/s)", n / t_fast, "steps/s")
        row(f"[n={n}]     (b) / (a)", t_naive / t_fast, "x")
        row(f"[n={n}]     (b) achieved GFLOP/s", flops_per_env_step * n / t_fast / 1e9, "GFLOP/s")
        row(
            f"[n={n}]     (b) share of the large {str(dtype)[6:]} GEMM rate",
            100 * flops_per_env_step * n / t_fast / 1e9 / gemm[dtype],
            "%",
        )
        ceiling = thin_gemm_gflops(fast, lm.model.config.intermediate_size, n, device, args.reps)
        row(f"[n={n}]     one layer's 4 GEMMs alone at {n} rows (GFLOP/s)", ceiling, "GFLOP/s")
        row(
            f"[n={n}]     ... their share of the large GEMM rate: (b)'s ceiling",
            100 * ceiling / gemm[dtype],
            "%",
        )
        if device.type == "cpu":  # the CPU levers, side by side: dtype and oneDNN pre-packing
            for lever_dtype, prepack, label in (
                (torch.float32, True, "fp32 pre-packed"),
                (dtype, False, f"{str(dtype)[6:]} plain matmuls"),
            ):
                if lever_dtype == dtype and prepack:
                    continue
                lever = make_lm_memory(lm.model, n, L, 4, lever_dtype, prepack=prepack)
                t_lever = lm_step_time(lever, x, 8, args.reps, device)
                row(f"[n={n}]     same step, {label} (env-steps/s)", n / t_lever, "steps/s")
                del lever
        if device.type == "cuda":  # the CUDA-graph lever, side by side
            eager = make_lm_memory(lm.model, n, L, 4, dtype)
            eager.use_cuda_graph = False
            t_eager = lm_step_time(eager, x, 8, args.reps, device)
            row(f"[n={n}]     same step without the CUDA graph (env-steps/s)", n / t_eager, "steps/s")
            del eager
        t_long = lm_step_time(fast, x, 4 * L, args.reps, device)
        row(f"[n={n}]     step time t=4*mem_len / t=8", t_long / t_fast, "x")
        del fast
        if args.skip_training:
            continue
        full = training_fps("helm", n, args.updates, str(device), args.lm, args.vec_env, lm.model)
        row(f"[n={n}] (c) HELM full training (env-steps/s)", full, "steps/s")
        row(f"[n={n}]     LM GFLOP/s inside (c)", flops_per_env_step * full / 1e9, "GFLOP/s")
        for agent in ("cnn", "lstm"):
            f = training_fps(agent, n, args.updates, str(device), args.lm, args.vec_env)
            row(f"[n={n}] (d) {agent} full training (env-steps/s)", f, "steps/s")
            if agent == "cnn":
                row(f"[n={n}]     (c) / cnn full training", full / f, "x")
    row("peak RSS (MB)", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MB")
    if device.type == "cuda":
        row("peak GPU memory allocated (MB)", torch.cuda.max_memory_allocated(device) / 2**20, "MB")

    RESULTS.mkdir(exist_ok=True)
    capped = "-avx2cap" if os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper() == "AVX2" else ""
    out = RESULTS / f"throughput-{device.type}{capped}.csv"
    with open(out, "w", newline="") as fh_out:
        w = csv.writer(fh_out)
        w.writerow(["metric", "value", "unit", "date", "host", "lm", "fast_bf16_cpu"])
        stamp = time.strftime("%Y-%m-%d")
        for name, value, unit in rows:
            w.writerow(
                [
                    name.strip(),
                    f"{value:.3f}",
                    unit,
                    stamp,
                    host_description(device),
                    args.lm,
                    cpu_has_fast_bf16(),
                ]
            )
    print(f"written {out}")


if __name__ == "__main__":
    main()
