"""experiments/compare_versions.py: which metrics rows count as the same run, and a commit that
does not exist is refused in one line (no training)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "experiments" / "compare_versions.py"


@pytest.fixture(scope="module")
def compare():
    spec = importlib.util.spec_from_file_location("compare_versions", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(update: int, loss: str, fps: str = "100") -> dict[str, str]:
    return {"update": str(update), "policy_loss": loss, "fps": fps, "time_s": str(update * 2.5)}


def test_wall_clock_columns_are_ignored(compare) -> None:
    a = [_row(1, "0.25"), _row(2, "-0.01")]
    b = [_row(1, "0.25", fps="180"), _row(2, "-0.01", fps="7")]
    assert compare.first_difference(a, b) is None


def test_the_first_differing_update_and_column_are_named(compare) -> None:
    a = [_row(1, "0.25"), _row(2, "-0.01"), _row(3, "0.3")]
    b = [_row(1, "0.25"), _row(2, "-0.02"), _row(3, "0.4")]
    assert compare.first_difference(a, b) == "update 2: policy_loss -0.01 vs -0.02"


def test_a_shorter_run_differs(compare) -> None:
    longer = [_row(1, "0.25"), _row(2, "0.1")]
    assert compare.first_difference(longer[:1], longer) == "row count: 1 vs 2"


def test_an_unknown_commit_is_refused_in_one_line() -> None:
    cmd = [sys.executable, str(_PATH), "no-such-revision", "--", "--agent", "cnn"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode != 0
    assert done.stderr.strip().startswith("error: no worktree of no-such-revision")
    assert len(done.stderr.strip().splitlines()) == 1
