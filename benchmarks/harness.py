"""The one timer and the one result format every speed benchmark in this folder uses.

* ``time_interleaved``: warm-up, then the variants timed in turn (A B C A B C …) so a slow
  patch of the machine lands on every variant alike; CUDA is synchronised around each call.
* ``host``: what ran it (CPU model and the flags that pick the LM's kernels, a kernel cap set
  through the environment, torch and its threads), written on every row.
* ``write_rows``: one long-format CSV schema for every benchmark:
  ``benchmark, case, variant, metric, value, unit`` + the host's columns (``row`` builds one).

Run benchmarks one at a time on a quiet machine: two torch jobs on two cores slow each other
many times over.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from helmrl.frozen.precision import ISA_FLAGS, cpu_info

RESULTS = Path(__file__).parent / "results"
COLUMNS = (
    "benchmark",
    "case",
    "variant",
    "metric",
    "value",
    "unit",
    "date",
    "cpu",
    "isa",
    "isa_cap",
    "threads",
    "torch",
    "device",
)
_CAPS = ("MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")


def host(device: torch.device | str = "cpu") -> dict[str, str]:
    """The host's columns for every row."""
    device = torch.device(device)
    model, flags = cpu_info()
    model = model or platform.processor() or "CPU"
    isa = [f for f in ISA_FLAGS if f in flags]
    cap = " ".join(f"{k}={os.environ[k]}" for k in _CAPS if k in os.environ)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return {
        "date": dt.date.today().isoformat(),
        "cpu": model,
        "isa": " ".join(isa),
        "isa_cap": cap or "none",
        "threads": str(torch.get_num_threads()),
        "torch": torch.__version__,
        "device": gpu,
    }


def sync(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_interleaved(
    variants: dict[str, Callable[[], object]],
    reps: int = 20,
    warmup: int = 3,
    device: torch.device | str = "cpu",
    before: Callable[[str], None] | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of each variant, ``reps`` calls each, interleaved. ``before(name)`` runs
    untimed ahead of every call (e.g. to restore a state the call changes)."""
    for name, fn in variants.items():
        for _ in range(warmup):
            if before:
                before(name)
            fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(reps):
        for name, fn in variants.items():
            if before:
                before(name)
            sync(device)
            t = time.perf_counter()
            fn()
            sync(device)
            times[name].append(time.perf_counter() - t)
    return times


def row(benchmark: str, case: str, variant: str, metric: str, value: float, unit: str) -> dict[str, object]:
    """One result row (``write_rows`` adds the host's columns)."""
    return {
        "benchmark": benchmark,
        "case": case,
        "variant": variant,
        "metric": metric,
        "value": value,
        "unit": unit,
    }


def median(xs: Iterable[float]) -> float:
    return statistics.median(list(xs))


def check_out(path: Path) -> None:
    """Stop (SystemExit) if ``path`` holds a CSV of another schema (an older result): call it before
    a long run, so the run is not lost at the end; ``write_rows`` checks again."""
    if path.exists():
        with open(path, newline="") as fh:
            header = next(csv.reader(fh), None)
        if header is not None and tuple(header) != COLUMNS:
            raise SystemExit(
                f"{path} has other columns than the harness's ({', '.join(COLUMNS)}); pass another --out"
            )


def write_rows(path: Path, rows: list[dict[str, object]], device: torch.device | str = "cpu") -> None:
    """Append rows (benchmark, case, variant, metric, value, unit) with the host's columns, never to
    a file of another schema (``check_out``)."""
    check_out(path)
    meta = host(device)
    new = not path.exists() or path.stat().st_size == 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        if new:
            w.writeheader()
        for row in rows:
            w.writerow({**meta, **row})


def time_full_windows(mems: dict, x: torch.Tensor, fill: dict, reps: int) -> dict[str, list[float]]:
    """Seconds per step of each LM memory in ``mems`` (key -> memory), interleaved, each from a
    window filled first with ``fill[key]`` steps of ``x`` and restored before every timed step, so
    each step attends over the same full window. Keys of the result are ``str(key)``."""
    n = x.shape[0]
    go_on = torch.zeros(n, dtype=torch.bool)
    saved = {}
    for key, mem in mems.items():
        mem.reset()
        mem(x, torch.ones(n, dtype=torch.bool))
        for _ in range(fill[key]):
            mem(x, go_on)
        saved[str(key)] = mem.snapshot_step(go_on)
    by_name = {str(k): m for k, m in mems.items()}
    return time_interleaved(
        {name: (lambda mem=mem: mem(x, go_on)) for name, mem in by_name.items()},
        reps=reps,
        before=lambda name: by_name[name].restore_step(saved[name]),
    )
