"""benchmarks/carry_cells.sh: unfinished cells travel with what they resume from; finished cells
stay; unpacking never replaces a run directory that is further along."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "carry_cells.sh"
CONFIG = {"total_steps": 4 * 16 * 8, "n_envs": 4, "rollout_steps": 16}  # 8 updates


def make_cell(root: Path, name: str, updates: int, checkpoint: bytes = b"ckpt") -> Path:
    cell = root / "spec" / name
    (cell / "tb").mkdir(parents=True)
    (cell / "config.json").write_text(json.dumps(CONFIG))
    rows = "".join(f"{u},{u * 64},0.0\n" for u in range(1, updates + 1))
    (cell / "metrics.csv").write_text("update,global_step,return\n" + rows)
    (cell / "checkpoint.pt").write_bytes(checkpoint)
    (cell / "attempts.log").write_text("update=0 commit=abc\n")
    (cell / "tb" / "events").write_text("tb")
    return cell


def carry(root: Path, *args: str | Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CELLS_ROOT": str(root)}
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], env=env, capture_output=True, text=True)


def test_pack_takes_unfinished_cells_and_their_resume_files(tmp_path: Path) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    make_cell(here, "running", updates=3, checkpoint=b"state-at-3")
    make_cell(here, "finished", updates=8)
    archive = tmp_path / "carry.tgz"
    done = carry(here, "pack", archive)
    assert done.returncode == 0, done.stderr
    assert carry(here, "list", archive).stdout.split() == ["spec/running"]

    done = carry(there, "unpack", archive)
    assert done.returncode == 0, done.stderr
    moved = there / "spec" / "running"
    assert (moved / "checkpoint.pt").read_bytes() == b"state-at-3"
    assert sorted(p.name for p in moved.iterdir()) == [
        "attempts.log",
        "checkpoint.pt",
        "config.json",
        "metrics.csv",
    ]  # no TensorBoard files
    assert not (there / "spec" / "finished").exists()


def test_unpack_keeps_a_run_directory_that_is_further_along(tmp_path: Path) -> None:
    old, here = tmp_path / "old", tmp_path / "here"
    make_cell(old, "running", updates=2, checkpoint=b"state-at-2")
    archive = tmp_path / "carry.tgz"
    assert carry(old, "pack", archive).returncode == 0
    make_cell(here, "running", updates=5, checkpoint=b"state-at-5")
    done = carry(here, "unpack", archive)
    assert done.returncode == 0, done.stderr
    assert (here / "spec" / "running" / "checkpoint.pt").read_bytes() == b"state-at-5"
    assert "keep spec/running" in done.stderr


def test_pack_with_nothing_to_carry_fails_with_one_line(tmp_path: Path) -> None:
    make_cell(tmp_path, "finished", updates=8)
    done = carry(tmp_path, "pack", tmp_path / "carry.tgz")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("error: no unfinished cell")
    assert not (tmp_path / "carry.tgz").exists()
