"""The frozen LM's step (HELM's memory) at 16 envs: today's code against a baseline commit's, in
one process, on the fills that matter.

    .venv/bin/python benchmarks/lm_step.py [--baseline f11408d] [--reps 15] [--n-envs 16]

Cases (SmolLM2-135M, the dtype ``--frozen-dtype auto`` picks on this host):
  kc512        512 slots, envs at episode steps 30..270 (KeyCorridorS3R1's range)
  kc512-short  512 slots, envs at steps 30..110
  full64       64 slots, every env past its window (the ring full)
Variants: ``baseline`` (``lm_memory.py`` as of the baseline commit, read with ``git show``),
``current`` and ``current-untrimmed`` (``trim_unused_slots=False``: the other levers alone).
Each step is timed from the same memory state, interleaved; rows go to
benchmarks/results/lm_step.csv (the harness's schema) and a summary is printed.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import types
from pathlib import Path

import torch
from harness import RESULTS, check_out, host, median, time_interleaved, write_rows

from helmrl.frozen.language_model import load_language_model
from helmrl.frozen.lm_memory import make_lm_memory
from helmrl.frozen.precision import resolve_frozen_dtype

CASES = {"kc512": (512, 30, 270), "kc512-short": (512, 30, 110), "full64": (64, 100, 115)}


def baseline_module(rev: str) -> types.ModuleType | None:
    """``helmrl.frozen.lm_memory`` as it was at ``rev`` (None outside a git checkout)."""
    try:
        src = subprocess.run(
            ["git", "show", f"{rev}:src/helmrl/models/lm_memory.py"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    spec = importlib.util.spec_from_loader("helmrl.models._lm_memory_baseline", loader=None)
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "helmrl.models"
    exec(compile(src, f"lm_memory.py@{rev}", "exec"), mod.__dict__)  # noqa: S102 - our own history
    sys.modules[spec.name] = mod
    return mod


def stream_read_gbps(reps: int = 5) -> float:
    """What one pass over 512 MB of fp32 reaches here (a sum: read-only, like the step's weights)."""
    buf = torch.ones(128 * 2**20)
    times = time_interleaved({"read": lambda: buf.sum()}, reps=reps, warmup=1)["read"]
    return buf.numel() * 4 / median(times) / 1e9


def linears_ms(lm: torch.nn.Module, n: int, reps: int = 10) -> float:
    """The step's arithmetic floor here: every decoder linear at ``n`` rows, nothing between them
    (fused QKV and gate/up as the step runs them, in the dtype it uses)."""
    dtype = resolve_frozen_dtype("auto", "cpu")
    mats = []
    for layer in lm.model.layers:
        a, m = layer.self_attn, layer.mlp
        for group in ((a.q_proj, a.k_proj, a.v_proj), (a.o_proj,), (m.gate_proj, m.up_proj), (m.down_proj,)):
            mats.append(torch.cat([lin.weight for lin in group]).detach().to(dtype))
    xs = [torch.randn(n, w.shape[1]).to(dtype) for w in mats]
    run = {"linears": lambda: [torch.nn.functional.linear(x, w) for x, w in zip(xs, mats, strict=True)]}
    return median(time_interleaved(run, reps=reps)["linears"]) * 1e3


def limits(lm: torch.nn.Module, n: int, cases: list[str], med: dict) -> list[dict[str, object]]:
    """The bytes a step must read (linear weights + the K/V slots it attends to) over the read
    bandwidth measured here: the floor no reordering of the same arithmetic can beat."""
    cfg = lm.config
    weights = sum(m.weight.numel() for m in lm.model.layers.modules() if isinstance(m, torch.nn.Linear))
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    slot = cfg.num_hidden_layers * n * cfg.num_key_value_heads * head_dim * 2 * 4  # K and V, fp32
    wbytes = weights * (2 if resolve_frozen_dtype("auto", "cpu") == torch.bfloat16 else 4)
    gbps = stream_read_gbps()
    lin_ms = linears_ms(lm, n)
    rows = [
        {
            "benchmark": "lm_step",
            "case": "host",
            "variant": "-",
            "metric": "linears_only_ms",
            "value": round(lin_ms, 2),
            "unit": "ms",
        }
    ] + [
        {
            "benchmark": "lm_step",
            "case": "host",
            "variant": "-",
            "metric": "stream_read",
            "value": round(gbps, 2),
            "unit": "GB/s",
        }
    ]
    print(f"the step's linears alone (30 layers x 4 GEMMs at {n} rows): {lin_ms:.1f} ms")
    print(f"read bandwidth {gbps:.1f} GB/s; weights {wbytes / 1e6:.0f} MB; {slot / 1e6:.2f} MB per K/V slot")
    for case in cases:
        mem_len, lo, hi = CASES[case]
        attended = min(hi + 1, mem_len)  # what the trimmed step reads
        floor = (wbytes + attended * slot) / gbps / 1e6
        rows.append(
            {
                "benchmark": "lm_step",
                "case": case,
                "variant": "current",
                "metric": "read_floor_ms",
                "value": round(floor, 2),
                "unit": "ms",
            }
        )
        if (case, "current") in med:
            ms = med[case, "current"] * 1e3
            print(f"{case:12s} read floor {floor:.1f} ms (bytes / bandwidth), measured {ms:.1f} ms")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--baseline", default="f11408d", help="git commit whose lm_memory.py is the baseline")
    ap.add_argument("--n-envs", type=int, default=16, help="envs in the LM step")
    ap.add_argument("--reps", type=int, default=15, help="timed steps per variant and case")
    ap.add_argument("--lm", default="smollm2-135m", help="smollm2-135m, random-init or a folder")
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES), help="fills to time")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--out", type=Path, default=RESULTS / "lm_step.csv", help="CSV to append to")
    args = ap.parse_args()
    check_out(args.out)
    if args.threads:
        torch.set_num_threads(args.threads)

    lm = load_language_model(args.lm).model
    dtype = resolve_frozen_dtype("auto", "cpu")
    base = baseline_module(args.baseline)
    n = args.n_envs
    print(f"host: {host()}  dtype: {dtype}  baseline: {args.baseline if base else 'unavailable'}", flush=True)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, lm.config.hidden_size, generator=gen)
    go = torch.zeros(n, dtype=torch.bool)
    rows, med = [], {}
    for case in args.cases:
        mem_len, lo, hi = CASES[case]
        mems = {"current": make_lm_memory(lm, n, mem_len, 4, dtype)}
        mems["current-untrimmed"] = make_lm_memory(lm, n, mem_len, 4, dtype)
        mems["current-untrimmed"].trim_unused_slots = False
        if base is not None:
            mems["baseline"] = base.make_lm_memory(lm, n, mem_len, 4, dtype)
        pos0 = torch.linspace(lo, hi, n).round().long()
        valid0 = torch.arange(mem_len)[None, :] < pos0.clamp(max=mem_len)[:, None]
        for m in mems.values():  # a filled cache: values do not change the time, but keep them finite
            m.keys.normal_(generator=gen)
            m.values.normal_(generator=gen)

        def restore(
            name: str, mems: dict = mems, pos0: torch.Tensor = pos0, valid0: torch.Tensor = valid0
        ) -> None:
            mems[name].position.copy_(pos0)
            mems[name].valid.copy_(valid0)

        times = time_interleaved(
            {k: (lambda m=m: m(x, go)) for k, m in mems.items()}, reps=args.reps, before=restore
        )
        for k, ts in times.items():
            med[case, k] = median(ts)
            rows.append(
                {
                    "benchmark": "lm_step",
                    "case": case,
                    "variant": k,
                    "metric": "step_ms",
                    "value": round(med[case, k] * 1e3, 3),
                    "unit": "ms",
                }
            )
            print(
                f"{case:12s} {k:18s} {med[case, k] * 1e3:8.1f} ms  (min {min(ts) * 1e3:.1f}, "
                f"max {max(ts) * 1e3:.1f})",
                flush=True,
            )
        if base is not None:
            for k in ("current", "current-untrimmed"):
                r = med[case, "baseline"] / med[case, k]
                rows.append(
                    {
                        "benchmark": "lm_step",
                        "case": case,
                        "variant": k,
                        "metric": "speedup_vs_baseline",
                        "value": round(r, 3),
                        "unit": "x",
                    }
                )
                print(f"{case:12s} {k:18s} {r:8.2f}x baseline", flush=True)
        del mems
    if ("kc512-short", "current") in med and ("full64", "current") in med:
        r = med["kc512-short", "current"] / med["full64", "current"]
        rows.append(
            {
                "benchmark": "lm_step",
                "case": "kc512-short/full64",
                "variant": "current",
                "metric": "time_ratio",
                "value": round(r, 3),
                "unit": "x",
            }
        )
        print(f"kc512-short over full64 (current): {r:.2f}", flush=True)
    rows += limits(lm, n, args.cases, med)
    write_rows(args.out, rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
