"""A sweep's summary: one row per cell, the final return per (env, agent) (IQM with its 95% CI from
4 runs, the mean and min-max for 2 or 3: ``helmrl.analysis.statistics.summarize``), the paper's
one-sided Wilcoxon rank-sum test of HELM against each baseline, and the learning curves."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

COLUMNS = ["env", "agent", "seed", "steps", "final_return", "eval_sampled", "eval_greedy", "wall_s", "fps"]


def write_summary(rows: list[dict[str, Any]], out: Path, reference: str = "helm") -> dict[str, Any]:
    """DIR/summary.csv, DIR/iqm.csv, DIR/tests.csv, DIR/curves.png; returns the tables."""
    from ..analysis.curves import plot_runs
    from ..analysis.statistics import rank_sum_test, summarize

    out = Path(out)
    rows = sorted(rows, key=lambda r: (r["env"], r["agent"], r["seed"]))
    with open(out / "summary.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    finals: dict[tuple[str, str], np.ndarray] = {}
    for r in rows:
        if r["final_return"] == r["final_return"]:  # not NaN
            finals.setdefault((r["env"], r["agent"]), []).append(float(r["final_return"]))
    iqm = []
    for (env, agent), values in sorted(finals.items()):
        iqm.append({"env": env, "agent": agent, "runs": len(values), **summarize(values)})
    tests = []
    for env in sorted({e for e, _ in finals}):
        ref = finals.get((env, reference))
        for (e, agent), values in sorted(finals.items()):
            if e != env or agent == reference or ref is None:
                continue
            # the normal approximation (the paper's test) and the exact p, which a few seeds make coarse
            n = f"{len(ref)} vs {len(values)}"
            tests.append({"env": env, "helm_vs": agent, "n": n, **rank_sum_test(ref, values)})
    for name, table in (("iqm.csv", iqm), ("tests.csv", tests)):
        if table:
            with open(out / name, "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=list(table[0]))
                w.writeheader()
                w.writerows(table)
    png = None
    dirs = [Path(r["run_dir"]) for r in rows if r.get("run_dir") and r["final_return"] == r["final_return"]]
    if dirs:
        png = plot_runs(dirs, out / "curves.png")["png"]
    return {"rows": rows, "iqm": iqm, "tests": tests, "png": png}


def format_summary(result: dict[str, Any]) -> str:
    from ..analysis.statistics import describe

    lines = [
        "final return (mean of the last 100 episodes): IQM with its 95% stratified-bootstrap CI from 4 runs, "
        "the mean and min-max for 2 or 3:"
    ]
    for r in result["iqm"]:
        lines.append(f"  {r['env']:32s} {r['agent']:8s} n={r['runs']}  {describe(r)}")
    if result["tests"]:
        lines.append("one-sided Wilcoxon rank-sum test, HELM > baseline (normal approximation; exact):")
        for t in result["tests"]:
            lines.append(
                f"  {t['env']:32s} helm vs {t['helm_vs']:8s} ({t['n']})  p = {t['p_one_sided']:.3f};"
                f" exact {t['p_exact']:.3f}"
            )
    if result["png"]:
        lines.append(f"curves: {result['png']}")
    return "\n".join(lines)
