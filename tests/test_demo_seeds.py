"""experiments/demo_seeds.py's curve summary on metrics rows with NaN returns before episodes finish."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "experiments" / "demo_seeds.py"


@pytest.fixture(scope="module")
def demo_seeds():
    spec = importlib.util.spec_from_file_location("demo_seeds", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(returns: list[float], batch: int = 512) -> list[dict[str, float]]:
    return [{"step": float((i + 1) * batch), "episode_return_mean": r} for i, r in enumerate(returns)]


def test_first_step_counts_rows_without_finished_episodes(demo_seeds) -> None:
    rows = _rows([math.nan, math.nan, 0.5, 0.96, 0.7, 1.0])
    assert demo_seeds.curve_summary(rows) == {"steps": 6 * 512, "first_step": 4 * 512, "min_after": 0.7}


def test_steps_are_the_last_logged_step_not_the_config(demo_seeds) -> None:
    rows = _rows([math.nan, 0.2, 0.3])  # e.g. interrupted, or total_steps not a multiple of the batch
    assert demo_seeds.curve_summary(rows) == {"steps": 3 * 512, "first_step": -1, "min_after": ""}


def test_no_rows(demo_seeds) -> None:
    assert demo_seeds.curve_summary([]) == {"steps": 0, "first_step": -1, "min_after": ""}
