"""One-command GPU check: the CUDA path agrees with the CPU, then the throughput table.

    python benchmarks/gpu_check.py            # on a machine with a CUDA GPU

1. The frozen LM memory (fast decoder, ring buffer, sinks) on CUDA in fp32 against the same
   model on the CPU over a 40-step episode with resets: relative error <= 1e-3; in bf16 (the
   default on CUDA): median relative error and worst cosine printed, median <= 5%.
2. The same agent weights give the same logits and values on CPU and CUDA (<= 2e-3: cuDNN
   runs fp32 convolutions in TF32 by default).
3. Two PPO updates of every agent on CUDA with `--device cuda`: finite losses.
4. benchmarks/throughput.py on CUDA at 16, 64 and 256 envs.
Uses `--lm random-init` (SmolLM2-135M's shapes, fresh weights from the seed) unless --lm is
given, so the check runs where the pretrained weights are not installed.
Exits non-zero if a check fails.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from helmrl.config import preset
from helmrl.frozen.frozen_hopfield import FrozenHopfield
from helmrl.frozen.language_model import load_language_model
from helmrl.frozen.lm_memory import make_lm_memory
from helmrl.models.agents import agent_class
from helmrl.models.configs import NetConfig
from helmrl.ppo.trainer import Trainer


def episode_histories(model, dtype, device, xs, starts):
    mem = make_lm_memory(model.to(device), xs.shape[1], 16, 4, dtype)
    mem.reset()
    return torch.stack([mem(x.to(device), s.to(device)).cpu() for x, s in zip(xs, starts, strict=True)])


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--lm", default="random-init", help="smollm2-135m, random-init or a folder")
    ap.add_argument("--n-envs", type=int, nargs="+", default=[16, 64, 256], help="throughput.py's n_envs")
    ap.add_argument("--no-throughput", action="store_true", help="skip step 4 (throughput.py)")
    ap.add_argument("--vec-env", default="auto", help="passed to throughput.py")
    ap.add_argument("--device", default="cuda", help="'cpu' dry-runs the script's own code here")
    args = ap.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_check: torch sees no CUDA GPU here", file=sys.stderr)
        return 2
    cuda = torch.device(args.device)
    name = torch.cuda.get_device_name(cuda) if cuda.type == "cuda" else "CPU (dry run)"
    print(f"device: {name}, torch {torch.__version__}", flush=True)
    ok = True

    # 1. LM memory, CPU vs CUDA
    lm = load_language_model(args.lm, seed=0)
    fh = FrozenHopfield(lm.token_embeddings, 56 * 56, beta=100.0)
    g = torch.Generator().manual_seed(0)
    xs = torch.stack([fh(torch.rand(4, 56 * 56, generator=g)) for _ in range(40)])
    starts = torch.zeros(40, 4, dtype=torch.bool)
    starts[0] = True
    starts[17, 1] = starts[29, 3] = True  # episodes end at different times
    ref = episode_histories(lm.model, torch.float32, "cpu", xs, starts)
    for dtype in (torch.float32, torch.bfloat16):
        got = episode_histories(lm.model, dtype, cuda, xs, starts)
        rel = (got - ref).norm(dim=-1) / ref.norm(dim=-1)
        cos = torch.nn.functional.cosine_similarity(got, ref, dim=-1)
        limit = 1e-3 if dtype == torch.float32 else 0.05
        passed = bool((rel.max() if dtype == torch.float32 else rel.median()) <= limit)
        ok &= passed
        print(
            f"[{'ok' if passed else 'FAIL'}] LM memory {cuda.type} {dtype} vs CPU fp32: "
            f"median rel {rel.median():.2e}, "
            f"max {rel.max():.2e}, worst cosine {cos.min():.4f}",
            flush=True,
        )
    lm.model.cpu()

    # 2. agents: same weights, same outputs
    for name in ("cnn", "lstm", "helm"):
        cls = agent_class(name)
        torch.manual_seed(0)
        agent = cls.from_config(NetConfig(), (56, 56, 3), 7, 576 if cls.uses_history else 0)
        obs = torch.randint(0, 256, (5, 56, 56, 3), dtype=torch.uint8)
        hist = torch.randn(5, 576) if cls.uses_history else None
        start = torch.tensor([True, False, True, False, False])
        with torch.no_grad():
            inputs = {"observation": obs} | ({} if hist is None else {"history": hist})
            lc, vc, _ = agent(inputs, agent.initial_state(5), start)
            agent.to(cuda)
            on_gpu = {k: v.to(cuda) for k, v in inputs.items()}
            lg, vg, _ = agent(on_gpu, agent.initial_state(5), start.to(cuda))
        err = max((lc - lg.cpu()).abs().max().item(), (vc - vg.cpu()).abs().max().item())
        passed = err <= 2e-3  # cuDNN convolutions use TF32 by default: ~3e-4 seen on an H200
        ok &= passed
        print(f"[{'ok' if passed else 'FAIL'}] {name} agent CPU vs CUDA: max abs diff {err:.2e}", flush=True)

    # 3. training on CUDA
    for name in ("cnn", "lstm", "helm"):
        cfg = preset("keycorridor").replace(
            agent=name, n_envs=8, total_steps=8 * 32 * 2, device=args.device, lm=args.lm
        )
        with tempfile.TemporaryDirectory() as d:
            tr = Trainer.from_config(cfg.validate(), Path(d), progress=False)
            tr.train()
            row = (Path(d) / "metrics.csv").read_text().splitlines()[-1]
            on_gpu = all(p.device.type == cuda.type for p in tr.agent.parameters())
            if tr.history is not None:
                on_gpu &= tr.history.lm.model.embed_tokens.weight.device.type == cuda.type
        passed = on_gpu and "nan" not in row.lower() and tr.update_count == 2
        ok &= passed
        print(
            f"[{'ok' if passed else 'FAIL'}] {name}: 2 PPO updates on CUDA, last metrics row {row}",
            flush=True,
        )

    if not args.no_throughput:
        here = Path(__file__).parent
        cmd = [
            sys.executable,
            str(here / "throughput.py"),
            "--device",
            args.device,
            "--lm",
            args.lm,
            "--vec-env",
            args.vec_env,
            "--n-envs",
        ]
        ok &= subprocess.call(cmd + [str(n) for n in args.n_envs]) == 0
    print("gpu_check:", "all checks passed" if ok else "SOME CHECKS FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
