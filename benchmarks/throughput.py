"""Throughput of HELM and the baselines on MiniGrid-KeyCorridorS3R1, every figure from one run.

    .venv/bin/python benchmarks/throughput.py [--device auto|cpu|cuda] [--n-envs 16 32 64]
        [--lm smollm2-135m|random-init|PATH] [--updates 3] [--reps 20]

For each n_envs, env-steps/s of
  (a) the naive Hugging Face fp32 KV-cached step of the same LM (helmrl's generic `hf` memory),
  (b) helmrl's LM step alone (the path `--frozen-dtype auto` picks on this host), beside its
      levers: on the CPU fp32 pre-packed and plain (unpacked) matmuls, on CUDA without the CUDA
      graph;
  (c) HELM full training (rollout + PPO update, keycorridor preset settings),
  (d) CNN-PPO and LSTM (Impala-PPO) full training,
plus the achieved GFLOP/s of (b) and of the LM inside (c) against a large GEMM of the same
dtype timed in this run, the step time at t = 4 × mem_len over t = 8, and peak memory.
The harness's timer (benchmarks/harness.py): the LM-step variants of one n_envs are timed
interleaved, every step from the same memory state (``snapshot_step``/``restore_step``); the
training rounds one agent at a time (each holds n_envs envs), after one warm-up round.
Rows (the harness's schema) are appended to benchmarks/results/throughput-long.csv.
`--lm random-init` (SmolLM2's shapes, fresh weights) times the same arithmetic where the
weights are not installed (e.g. a GPU machine): speed does not depend on the weights' values.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from harness import RESULTS, check_out, host, median, row, time_interleaved, write_rows

from helmrl.config import preset
from helmrl.devices import resolve_device
from helmrl.frozen.frozen_hopfield import FrozenHopfield
from helmrl.frozen.language_model import load_language_model
from helmrl.frozen.lm_memory import FastDecoderMemory, StreamingLMMemory, make_lm_memory
from helmrl.frozen.precision import resolve_frozen_dtype
from helmrl.ppo.trainer import Trainer

BENCH = "throughput"


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def gemm_gflops(dtypes: list[torch.dtype], device: torch.device, size: int) -> dict[torch.dtype, float]:
    """GFLOP/s of one large ``size``³ GEMM in each dtype, interleaved."""
    mats = {d: [torch.randn(size, size, device=device).to(d) for _ in range(2)] for d in dtypes}
    calls = {dtype_name(d): (lambda a=a, b=b: a @ b) for d, (a, b) in mats.items()}
    times = time_interleaved(calls, reps=10, device=device)
    return {d: 2 * size**3 / median(times[dtype_name(d)]) / 1e9 for d in dtypes}


def layer_gemms(memory: FastDecoderMemory, intermediate: int, n: int) -> tuple[float, Callable[[], object]]:
    """The ceiling of (b): one decoder layer's four GEMMs alone, at n rows, on the memory's own
    (pre-packed) weights and nothing between them -> (FLOPs, the call)."""
    d, attn = memory.hidden_size, memory.n_heads * memory.head_dim
    ins = {"0.qkv": d, "0.o": attn, "0.gate_up": d, "0.down": intermediate}
    xs = {k: torch.randn(n, k_in, device=memory.device) for k, k_in in ins.items()}
    flops = sum(2 * n * ins[k] * memory.linear(xs[k], k).shape[-1] for k in ins)
    return flops, lambda: [memory.linear(xs[k], k) for k in ins]


def lm_linear_params(model: torch.nn.Module) -> int:
    """Parameters of the linears one decoder step multiplies (not embeddings, not the LM head)."""
    return sum(m.weight.numel() for m in model.model.layers.modules() if isinstance(m, torch.nn.Linear))


def step_times(
    mems: dict[str, StreamingLMMemory], x: torch.Tensor, at_step: int, reps: int, device: torch.device
) -> dict[str, float]:
    """Median seconds of one LM step of each memory once every env's episode is ``at_step`` steps
    old, interleaved; every timed step starts from that same state."""
    n = x.shape[0]
    start = torch.ones(n, dtype=torch.bool, device=device)
    go = torch.zeros(n, dtype=torch.bool, device=device)
    saved = {}
    for name, memory in mems.items():
        memory.reset()
        memory(x, start)
        for _ in range(at_step - 1):
            memory(x, go)
        saved[name] = memory.snapshot_step(go)
    times = time_interleaved(
        {name: (lambda m=m: m(x, go)) for name, m in mems.items()},
        reps=reps,
        device=device,
        before=lambda name: mems[name].restore_step(saved[name]),
    )
    return {name: median(ts) for name, ts in times.items()}


def training_fps(
    agent: str, n_envs: int, updates: int, device: str, lm: str, vec_env: str, lm_model=None
) -> float:
    """Full-training env-steps/s (rollout + update) with the keycorridor preset: the median of
    ``updates`` rounds after one warm-up round."""
    cfg = (
        preset("keycorridor")
        .replace(agent=agent, n_envs=n_envs, device=device, lm=lm, vec_env=vec_env)
        .replace(total_steps=10**7, checkpoint_every=10**6)
        .validate()
    )
    with tempfile.TemporaryDirectory() as d:
        trainer = Trainer.from_config(cfg, Path(d), progress=False, lm_model=lm_model, log=lambda *_: None)
        trainer.start_episodes()
        rounds = {agent: lambda: trainer.update(trainer.collect())}
        times = time_interleaved(rounds, reps=updates, warmup=1, device=trainer.device)
        trainer.envs.close()
    return cfg.batch_size / median(times[agent])


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    ap.add_argument(
        "--n-envs", type=int, nargs="+", default=[16, 32, 64], help="env counts, each timed in turn"
    )
    ap.add_argument("--lm", default="smollm2-135m", help="smollm2-135m, random-init or a folder")
    ap.add_argument("--updates", type=int, default=3, help="timed training rounds per agent")
    ap.add_argument("--mem-len", type=int, default=64, help="the LM memory's slots")
    ap.add_argument("--reps", type=int, default=20, help="timed LM steps per variant")
    ap.add_argument("--gemm-size", type=int, default=2048, help="side of the large reference GEMM")
    ap.add_argument("--skip-training", action="store_true", help="LM step figures only")
    ap.add_argument("--vec-env", default="auto", help="sync | async | auto (async on >= 8 CPUs)")
    ap.add_argument("--out", type=Path, default=RESULTS / "throughput-long.csv", help="CSV to append to")
    args = ap.parse_args()
    check_out(args.out)
    device = resolve_device(args.device)
    L = args.mem_len
    dtype = resolve_frozen_dtype("auto", device)
    rows: list[dict[str, object]] = []

    def add(case: str, variant: str, metric: str, value: float, unit: str) -> None:
        rows.append(row(BENCH, case, variant, metric, round(value, 3), unit))
        print(f"{case:28s} {variant:26s} {metric:24s} {value:10.2f} {unit}", flush=True)

    print(f"host: {host(device)}; frozen dtype {dtype}; vec_env {args.vec_env}", flush=True)
    lm = load_language_model(args.lm)
    lm.model.to(device)
    flops_per_env_step = 2 * lm_linear_params(lm.model)
    dtypes = list(dict.fromkeys([torch.float32, dtype]))
    gemm = gemm_gflops(dtypes, device, args.gemm_size)
    for d, g in gemm.items():
        add(f"gemm {args.gemm_size}^3", dtype_name(d), "gflops", g, "GFLOP/s")
    fh = FrozenHopfield(lm.token_embeddings, 56 * 56, beta=100.0).to(device)

    for n in args.n_envs:
        case = f"lm={args.lm} n_envs={n}"
        x = fh(torch.rand(n, 56 * 56, device=device))
        fast = make_lm_memory(lm.model, n, L, 4, dtype)
        packed = isinstance(fast, FastDecoderMemory) and fast.packed
        helmrl = f"helmrl-{dtype_name(dtype)}{'-packed' if packed else ''}"
        mems: dict[str, StreamingLMMemory] = {
            "hf-fp32": make_lm_memory(lm.model, n, L, 4, torch.float32, implementation="hf"),
            helmrl: fast,
        }
        if device.type == "cpu":  # the CPU levers, side by side: dtype and oneDNN pre-packing
            if dtype != torch.float32:
                mems["helmrl-float32-packed"] = make_lm_memory(lm.model, n, L, 4, torch.float32)
            mems[f"helmrl-{dtype_name(dtype)}-plain"] = make_lm_memory(
                lm.model, n, L, 4, dtype, prepack=False
            )
        if device.type == "cuda":  # the CUDA-graph lever, side by side
            mems["helmrl-no-cuda-graph"] = eager = make_lm_memory(lm.model, n, L, 4, dtype)
            eager.use_cuda_graph = False
        t = step_times(mems, x, 8, args.reps, device)
        for name, seconds in t.items():
            add(case, name, "env_steps_per_s", n / seconds, "steps/s")
        add(case, helmrl, "speedup_vs_hf-fp32", t["hf-fp32"] / t[helmrl], "x")
        achieved = flops_per_env_step * n / t[helmrl] / 1e9
        add(case, helmrl, "gflops", achieved, "GFLOP/s")
        add(case, helmrl, "share_of_large_gemm", 100 * achieved / gemm[dtype], "%")
        if isinstance(fast, FastDecoderMemory):
            flops, call = layer_gemms(fast, lm.model.config.intermediate_size, n)
            seconds = median(time_interleaved({"gemms": call}, reps=args.reps, device=device)["gemms"])
            ceiling = flops / seconds / 1e9
            add(case, "layer-0-gemms-alone", "gflops", ceiling, "GFLOP/s")
            add(case, "layer-0-gemms-alone", "share_of_large_gemm", 100 * ceiling / gemm[dtype], "%")
        for name in [k for k in mems if k != helmrl]:
            del mems[name]
        t_long = step_times({helmrl: fast}, x, 4 * L, args.reps, device)[helmrl]
        add(case, helmrl, "step_time_t4L_over_t8", t_long / t[helmrl], "x")
        del mems, fast
        if args.skip_training:
            continue
        train_case = f"keycorridor n_envs={n}"
        full = training_fps("helm", n, args.updates, str(device), args.lm, args.vec_env, lm.model)
        add(train_case, "helm", "env_steps_per_s", full, "steps/s")
        add(train_case, "helm", "lm_gflops", flops_per_env_step * full / 1e9, "GFLOP/s")
        for agent in ("cnn", "lstm"):
            f = training_fps(agent, n, args.updates, str(device), args.lm, args.vec_env)
            add(train_case, agent, "env_steps_per_s", f, "steps/s")
            if agent == "cnn":
                add(train_case, "helm/cnn", "ratio", full / f, "x")
    add("process", "-", "peak_rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MB")
    if device.type == "cuda":
        add("process", "-", "peak_gpu_allocated", torch.cuda.max_memory_allocated(device) / 2**20, "MB")
    write_rows(args.out, rows, device)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
