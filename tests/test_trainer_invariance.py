"""A short run of each agent at a fixed seed gives the metrics recorded in
``tests/data/trainer_golden.json``: a restructure of the trainer, the acting loop, the history
path or the agents must change no result.

The runs happen in a child process capped at AVX2 and one thread, so that the CPU's own kernels
(AVX-512, AMX) do not enter. The file records the CPU it was made on: on that CPU model the
comparison is bit for bit; on another one, MKL's and oneDNN's cache-dependent blocking may reorder
float sums, so the comparison there allows a relative 1e-4 (three PPO updates, far below what any
real change of behaviour moves). Regenerate the file only after a change meant to alter results:

    HELMRL_WRITE_GOLDEN=1 .venv/bin/python -m pytest tests/test_trainer_invariance.py
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch

GOLDEN = Path(__file__).parent / "data" / "trainer_golden.json"
VOLATILE = {"fps", "time_s"}  # wall-clock columns
AVX2 = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "MKL_CBWR": "AVX2,STRICT",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
COMMON = [
    "--env-id", "MiniGrid-Empty-5x5-v0", "--total-steps", "576", "--n-envs", "4",
    "--rollout-steps", "48", "--n-minibatches", "4", "--epochs", "2", "--seed", "3",
    "--reward-norm", "on", "--torch-threads", "1", "--checkpoint-every", "2", "--no-progress",
    "--encoder", "sized",
]  # fmt: skip
# `--encoder sized`: the CNN the file was recorded with (8/4, 4/2 kernels on the 40 px images);
# the default `authors` kernels differ only in the second conv's size (tests/test_encoders.py).
AGENTS = {
    "cnn": ["--agent", "cnn"],
    "lstm": ["--agent", "lstm"],
    "helm": ["--agent", "helm", "--mem-len", "8", "--n-sink", "2", "--similarity", "dot",
             "--history-norm", "standardize", "--beta", "10"],
    # HELMv2 and SHELM: the tiny CLIP in front of the tiny BPE Llama (tests/conftest.py)
    "helmv2": ["--agent", "helmv2", "--mem-len", "8", "--n-sink", "2"],
    "shelm": ["--agent", "shelm", "--mem-len", "12", "--n-sink", "2", "--top-k", "2"],
}  # fmt: skip


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _runs(tmp: Path, models: dict[str, list[str]]) -> dict[str, list[dict[str, str]]]:
    """``models``: each agent's model flags (--lm, --vision-encoder), if any."""
    script = (
        "import sys; from helmrl.cli import main\nfor args in sys.argv[1:]:\n"
        "    assert main(args.split('\\x1f')) == 0\n"
    )
    argv = []
    for name, extra in AGENTS.items():
        lm = models.get(name, [])
        argv.append("\x1f".join(["train", *COMMON, *extra, *lm, "--run-dir", str(tmp / name)]))
    env = {**os.environ, **AVX2}
    proc = subprocess.run([sys.executable, "-c", script, *argv], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = {}
    for name in AGENTS:
        with open(tmp / name / "metrics.csv") as f:
            out[name] = [{k: v for k, v in row.items() if k not in VOLATILE} for row in csv.DictReader(f)]
        out[name][-1]["parameters_sha256"] = _digest(tmp / name / "checkpoint.pt")
    return out


def _digest(checkpoint: Path) -> str:
    """SHA-256 of the trained agent's parameters and optimizer moments: the metrics CSV rounds to
    six digits, this sees every bit."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    h = hashlib.sha256()
    tensors = list(state["agent"].items())
    for i, group in state["optimizer"]["state"].items():
        tensors += [(f"opt{i}.{k}", v) for k, v in group.items() if torch.is_tensor(v)]
    for name, t in tensors:
        h.update(name.encode())
        h.update(t.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def _close(a: str, b: str, rtol: float) -> bool:
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return math.isclose(x, y, rel_tol=rtol, abs_tol=rtol * 1e-2)


@pytest.mark.slow
def test_short_runs_match_the_recorded_metrics(tmp_path, tiny_llama_dir, clip_dir, lm_dir):
    vision = ["--lm", str(lm_dir), "--vision-encoder", str(clip_dir)]
    runs = _runs(tmp_path, {"helm": ["--lm", str(tiny_llama_dir)], "helmv2": vision, "shelm": vision})
    if os.environ.get("HELMRL_WRITE_GOLDEN") == "1":
        record = {"cpu": cpu_model(), "torch": torch.__version__, "runs": runs}
        GOLDEN.write_text(json.dumps(record, indent=1))
        pytest.skip(f"wrote {GOLDEN}")
    golden = json.loads(GOLDEN.read_text())
    exact = golden["cpu"] == cpu_model() and golden["torch"] == torch.__version__
    rtol = 0.0 if exact else 1e-4
    assert set(golden["runs"]) == set(AGENTS), "regenerate the golden file for the agents added"
    for name, rows in golden["runs"].items():
        got = runs[name]
        assert len(got) == len(rows) == 3, name
        for want_row, got_row in zip(rows, got, strict=True):
            assert set(got_row) == set(want_row), name
            keys = [k for k in want_row if exact or k != "parameters_sha256"]
            bad = {k: (want_row[k], got_row[k]) for k in keys if not _close(want_row[k], got_row[k], rtol)}
            assert not bad, f"{name} update {want_row['update']} ({'exact' if exact else 'rtol 1e-4'}): {bad}"
