"""`helmrl sweep`: an (env, agent, seed) grid of ordinary runs on Ray, and its summary."""

from .runner import run_cell, run_sweep, summary_row
from .spec import Cell, SpecError, SweepSpec
from .summary import format_summary, write_summary

__all__ = [
    "Cell",
    "SpecError",
    "SweepSpec",
    "format_summary",
    "run_cell",
    "run_sweep",
    "summary_row",
    "write_summary",
]
