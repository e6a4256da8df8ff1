"""Sweep cells as the reproduction reports read them (experiments/keycorridor_repro.py,
experiments/randommaze_repro.py), and the statistics, tables and verdict wording those reports share.

The protocol, one definition for every report:

- A cell is a run folder ``<cells>/<group>/<env>-<agent>[-<label>]-s<seed>/`` as a sweep leaves it:
  config.json (helmrl's TrainConfig; ``agent`` and ``label`` name the run, ``agent[:label]``),
  metrics.csv (one row per update), cell.json (wall time, commits, device, CPU, and the final
  policy's evaluation ``eval``: sampled and greedy mean return over fresh episodes) and
  attempts.log. The reports only read them.
- A cell is *finished* when its metrics.csv has reached its config's total_steps.
- The return "at S steps" is metrics.csv's ``episode_return_mean`` (the mean return of the last 100
  training episodes, the paper's return) at the last update <= S. A run whose last update <= S
  lies a whole update (n_envs x rollout_steps env steps) or more below S has not reached S and
  has no return there.
- A group of runs is summarised by the IQM with its 95% stratified-bootstrap CI (rliable) from 4
  runs on; with 2 or 3 runs the IQM trims nothing and the bootstrap's bounds are the lowest and
  highest run, so those are written as the mean (min, max) with no CI; one run is its value.
- A comparison a > b is the one-sided Mann-Whitney rank-sum test: the exact permutation p, ties
  included, beside the normal approximation the paper used; Holm's adjustment of the exact p
  runs over the tests of one family (one claim) at the same step.
- A verdict reads "confirmed" only with n >= CONFIRM_N runs on both sides and a Holm-adjusted p
  below ALPHA; while planned seeds are missing it is "open", with fewer than CONFIRM_N runs a
  side (or in a screening group) a "screen", and a non-significant test at full n reads "not
  confirmed", never a claim of no difference.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import textwrap
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from helmrl.analysis.statistics import SMALL_N, holm, iqm, iqm_with_ci, rank_sum_one_sided
from helmrl.config import TrainConfig
from helmrl.ppo.metrics import read_metrics

ALPHA = 0.05
CONFIRM_N = 5  # runs needed on each side before a verdict may read "confirmed"; fewer: a screen
BOOT_REPS = 2000  # bootstrap resamples per CI
NO_CI = "n=1, no CI"
NOT_RECORDED = "not recorded"
MEASURES = ("training", "eval_sampled", "eval_greedy")  # the return while training; the final policy's
NAMES = {"helm": "HELM", "lstm": "Impala-PPO", "cnn": "CNN-PPO"}
CURVE_COLUMNS = ["env_id", "agent", "step", "mean", "ci_low", "ci_high"]
TEST_FIELDS = "family_size n_a n_b iqm_a iqm_b u p_exact p_holm p_normal significant significant_holm".split()


# ---------------------------------------------------------------------------------- cells
@dataclass
class Cell:
    group: str
    run: Path
    cfg: TrainConfig
    rows: list[dict[str, float]]

    @property
    def key(self) -> str:
        """agent[:label], as `helmrl plot` and the sweep summary name a run."""
        return self.cfg.agent + (f":{self.cfg.label}" if self.cfg.label else "")

    @property
    def steps_per_update(self) -> int:
        return self.cfg.batch_size

    @property
    def finished(self) -> bool:
        """Trained to its config's total_steps."""
        return bool(self.rows) and self.rows[-1]["step"] >= self.cfg.total_steps

    def return_at(self, step: int) -> float | None:
        """The logged mean return of the last 100 training episodes at the last update <= step;
        None where the run has not reached ``step`` (that update is a whole update or more below
        it) or no episode had ended by then."""
        rows = [r for r in self.rows if r["step"] <= step]
        if (
            not rows
            or rows[-1]["step"] <= step - self.steps_per_update
            or not np.isfinite(rows[-1]["episode_return_mean"])
        ):
            return None
        return float(rows[-1]["episode_return_mean"])

    @functools.cached_property
    def info(self) -> dict[str, Any]:
        """cell.json ({} when there is none)."""
        return cell_info(self.run)

    def eval_mean(self, measure: str) -> float | None:
        """cell.json's final-policy evaluation, ``measure`` "eval_sampled" or "eval_greedy": the mean
        return over its fresh episodes; None when the cell has none (or it failed)."""
        value = (self.info.get("eval") or {}).get(measure.removeprefix("eval_") + "_mean")
        return None if value is None or not np.isfinite(value) else float(value)

    def value(self, step: int, measure: str = "training") -> float | None:
        """The training return at ``step``, or (``measure`` eval_*) the final policy's evaluation."""
        return self.return_at(step) if measure == "training" else self.eval_mean(measure)


def load_cells(cells: Path, group: str, env: str) -> list[Cell]:
    """The cells of ``<cells>/<group>/<env>-*`` that have a config.json and a logged update."""
    out = []
    for run in sorted((Path(cells) / group).glob(f"{env}-*")):
        if (run / "config.json").exists() and (run / "metrics.csv").exists():
            rows = read_metrics(run)
            if rows:
                out.append(Cell(group, run, TrainConfig.load(run / "config.json"), rows))
    return out


def values_of(
    cells: Iterable[Cell], group: str, key: str, step: int, measure: str = "training"
) -> tuple[np.ndarray, list[int]]:
    """The runs of (group, key) at ``step`` (:meth:`Cell.value`) and their seeds."""
    pairs = [
        (v, c.cfg.seed)
        for c in cells
        if c.group == group and c.key == key
        if (v := c.value(step, measure)) is not None
    ]
    return np.array([v for v, _ in pairs]), [s for _, s in pairs]


def name(key: str, names: dict[str, str] = NAMES) -> str:
    """'HELM', 'CNN-PPO (cnn-sb3)', 'sb3-ppo': the agent's name and its label."""
    agent, _, label = key.partition(":")
    return names.get(agent, agent) + (f" ({label})" if label else "")


def order(gk: tuple[str, str], groups: Sequence[str], agents: Sequence[str] = tuple(NAMES)) -> tuple:
    """Sort key of (group, key): the groups' order, then the agents', then the label."""
    group, key = gk
    base = key.partition(":")[0]
    return list(groups).index(group), list(agents).index(base) if base in agents else len(agents), key


def expected_seeds(sweeps: Path, group: str, key: str, default: int) -> int:
    """Cells the group's spec (``<sweeps>/<group>.toml``: a sweep spec, or experiments/sb3_peer.py's
    peer spec, ``runner = "sb3_peer"``) has for this agent, else ``default`` (the planned seed count
    while there is no spec)."""
    spec_path = Path(sweeps) / f"{group}.toml"
    n = 0
    if spec_path.exists():
        data = tomllib.loads(spec_path.read_text())
        if data.get("runner") == "sb3_peer":  # every agent at every seed, one label for them all
            label = "" if data.get("truncation_bootstrap", True) else ":no-bootstrap"
            n = len(data.get("seeds", [])) if key in {a + label for a in data.get("agents", [])} else 0
        else:
            from helmrl.sweep import SweepSpec

            cfgs = [c.config for c in SweepSpec.load(spec_path).cells()]
            n = sum(1 for c in cfgs if c.agent + (f":{c.label}" if c.label else "") == key)
    return n or default


def cell_info(run: Path) -> dict[str, Any]:
    try:
        return json.loads((Path(run) / "cell.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def ran_on(run: Path) -> tuple[str, str]:
    """(commits, device) as the cell's cell.json names them, else its attempts.log's commits."""
    info = cell_info(run)
    commits = info.get("commits") or []
    if not commits and (run / "attempts.log").exists():
        for line in (run / "attempts.log").read_text().splitlines():
            commits += [w.split("=", 1)[1] for w in line.split() if w.startswith("commit=")]
    return ", ".join(dict.fromkeys(commits)) or NOT_RECORDED, info.get("device") or NOT_RECORDED


def step_label(step: int) -> str:
    """300000 -> '300k', 2000000 -> '2M'."""
    return f"{step // 1_000_000}M" if step % 1_000_000 == 0 else f"{step // 1000}k"


def iqm_ci(values: np.ndarray, reps: int = BOOT_REPS) -> tuple[float, float | None, float | None]:
    """IQM and its 95% stratified-bootstrap CI over seeds (rliable; one task, so the seeds are the
    one stratum), from 4 runs on. With 2 or 3 runs the IQM trims nothing (it is the plain mean)
    and the bootstrap's 2.5% and 97.5% points are the lowest and highest run, so this gives the
    mean and no CI (:func:`spread` names the range); one run: its value, no CI."""
    values = np.asarray(values, dtype=float)
    if len(values) <= SMALL_N:
        return float(values.mean()), None, None
    return _iqm_ci(tuple(values.tolist()), reps)


@functools.cache
def _iqm_ci(values: tuple[float, ...], reps: int) -> tuple[float, float, float]:
    return iqm_with_ci(np.array(values), reps=reps)  # seeded: the same cells give the same table


def statistic(n: int) -> str:
    """What iqm_ci's point and interval are for n runs."""
    if n == 1:
        return "one run"
    return "mean, min-max" if n <= SMALL_N else "IQM, 95% CI"


def spread(values: np.ndarray, reps: int = BOOT_REPS) -> str:
    """The figure of n runs with its honest label: 'IQM 0.948 [0.913, 0.950]' from 4 runs on,
    'mean 0.366 (min 0.112, max 0.621), n = 2' for 2 or 3, '0.171 (n = 1, no CI)' for one."""
    values = np.asarray(values, dtype=float)
    point, lo, hi = iqm_ci(values, reps)
    if len(values) == 1:
        return f"{point:.3f} (n = 1, no CI)"
    if lo is None:
        return f"mean {point:.3f} (min {values.min():.3f}, max {values.max():.3f}), n = {len(values)}"
    return f"IQM {point:.3f} [{lo:.3f}, {hi:.3f}]"


def ci_text(lo: float | None, hi: float | None, values: np.ndarray | None = None) -> str:
    """The CI as a table writes it; without one, why not (and, for 2 or 3 runs, their range)."""
    if lo is not None:
        return f"[{lo:.3f}, {hi:.3f}]"
    if values is None or len(values) < 2:
        return NO_CI
    return f"n={len(values)}, no CI; min {np.min(values):.3f}, max {np.max(values):.3f}"


def rounded(x: float | None, digits: int = 3) -> float | str:
    return "" if x is None else round(x, digits)


def iqm_fields(values: np.ndarray, seeds: Sequence[int], reps: int = BOOT_REPS) -> dict[str, Any]:
    """One IQM table row's numbers for these runs: runs, seeds, statistic (what the point and
    interval are, :func:`statistic`), iqm, ci_low, ci_high, ci (:func:`ci_text`) and the runs."""
    point, lo, hi = iqm_ci(values, reps)
    return dict(
        runs=len(values),
        seeds=" ".join(map(str, seeds)),
        statistic=statistic(len(values)),
        iqm=round(point, 3),
        ci_low=rounded(lo),
        ci_high=rounded(hi),
        ci=ci_text(lo, hi, values),
        returns=" ".join(f"{v:.3f}" for v in values),
    )


def one_sided(a: np.ndarray, b: np.ndarray) -> dict[str, float] | None:
    """Mann-Whitney rank-sum test of a > b (helmrl.analysis.statistics.rank_sum_one_sided): the
    exact permutation p, ties included, and the normal approximation the paper used (Wilcoxon
    rank-sum). None when a side has fewer than 2 runs."""
    if len(a) < 2 or len(b) < 2:
        return None
    return rank_sum_one_sided(a, b)


def comparison_fields(a: np.ndarray, b: np.ndarray, alpha: float = ALPHA) -> dict[str, Any]:
    """One test row's numbers for a > b: the runs on each side, their IQMs, U, the exact p and the
    normal approximation's (empty where a side has under 2 runs); :func:`adjust_holm` fills
    family_size, p_holm and significant_holm. ``_p`` (the unrounded exact p) is for the caller."""
    t = one_sided(a, b)
    return dict(
        family_size="",
        n_a=len(a),
        n_b=len(b),
        iqm_a=round(iqm(a), 3) if len(a) else "",
        iqm_b=round(iqm(b), 3) if len(b) else "",
        u="" if t is None else t["u"],
        p_exact="" if t is None else round(t["p_exact"], 4),
        p_holm="",
        p_normal="" if t is None else round(t["p_normal"], 4),
        significant="" if t is None else t["p_exact"] < alpha,
        significant_holm="",
        _p=None if t is None else t["p_exact"],
    )


def adjust_holm(
    rows: list[dict[str, Any]], by: Sequence[str] = ("family", "step"), alpha: float = ALPHA
) -> list[dict[str, Any]]:
    """Holm's adjustment of the exact p over the rows that share ``by`` (a family at one step) and
    have a p; family_size says how many were adjusted together."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        if r["_p"] is not None:
            groups.setdefault(tuple(r[k] for k in by), []).append(r)
    for members in groups.values():
        for r, adjusted in zip(members, holm([r["_p"] for r in members]), strict=True):
            r.update(
                family_size=len(members),
                p_holm=round(float(adjusted), 4),
                significant_holm=bool(adjusted < alpha),
            )
    return rows


def with_both_sides(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tests where both sides have a run."""
    return [r for r in rows if r["n_a"] and r["n_b"]]


# ---------------------------------------------------------------------------------- verdicts
@dataclass
class Verdict:
    title: str
    # "open", "screen" (fewer than CONFIRM_N runs on a side, or a screening group), "confirmed",
    # "unadjusted" (p < ALPHA before Holm's adjustment only), "only" (significant before the
    # final step only) or "not"
    status: str
    counts: str  # "n = 1 (HELM) and 1 (Impala-PPO) of 5 seeds finished"
    line: str


def p_text(row: dict[str, Any]) -> str:
    """The test's p-values: exact, Holm-adjusted in its family, normal approximation."""
    if row["p_exact"] == "":
        return "no test yet (n < 2 on a side)"
    size = row["family_size"]
    if size == 1:
        holm_text = f'family "{row["family"]}" has this one test, no adjustment'
    else:
        holm_text = f'Holm-adjusted {row["p_holm"]:.4f} over the {size} tests of family "{row["family"]}"'
    return (
        f"one-sided Mann-Whitney p = {row['p_exact']:.4f} exact ({holm_text}), "
        f"{row['p_normal']:.4f} normal approx."
    )


def judge(
    title: str,
    rows: dict[int, dict[str, Any]],
    final: int,
    expected: tuple[int, int],
    sides: tuple[str, str],
    numbers: str,
    screen: bool = False,
) -> Verdict:
    """The verdict on one comparison a > b from its test rows by step: "open" while planned seeds
    (``expected``) are missing; a screen when a side has fewer than CONFIRM_N runs or the
    comparison is a ``screen``; else the test at ``final``, "confirmed" only where its exact p is
    below ALPHA after Holm's adjustment too. ``numbers`` (the sides' figures) ends the line."""
    last = rows[final]
    na, nb = last["n_a"], last["n_b"]
    ea, eb = expected
    a, b = sides
    at = step_label(final)
    if ea == eb:
        counts = f"n = {na} ({a}) and {nb} ({b}) of {ea} seeds finished"
    else:
        counts = f"n = {na} of {ea} ({a}) and {nb} of {eb} ({b}) seeds finished"
    p = p_text(last)
    if na < ea or nb < eb:
        return Verdict(title, "open", counts, f"{title}: open: {counts}; {numbers}; {p}")
    if screen or min(na, nb) < CONFIRM_N:
        what = {True: "significant, ", False: "not significant, "}.get(last["significant"], "")
        why = f"under {CONFIRM_N} a side" if min(na, nb) < CONFIRM_N else "a screening group"
        line = f"{title}: screen (n = {na} vs {nb}, {why}): {what}{p} at {at}; {numbers}"
        return Verdict(title, "screen", counts, line)
    if last["significant_holm"] is True:
        return Verdict(title, "confirmed", counts, f"{title}: confirmed ({p} at {at}, {counts}); {numbers}")
    if last["significant"] is True:
        line = f"{title}: significant before Holm's adjustment only ({p} at {at}, {counts}); {numbers}"
        return Verdict(title, "unadjusted", counts, line)
    early = [s for s in sorted(rows) if s < final and rows[s]["significant"] is True]
    if early:
        when = " and ".join(step_label(s) for s in early)
        ps = ", ".join(
            f"p = {rows[s]['p_exact']:.4f} at {step_label(s)} (Holm {rows[s]['p_holm']:.4f})" for s in early
        )
        line = f"{title}: significant only at {when} steps, not at {at} ({ps}; {p} at {at}); {numbers}"
        return Verdict(title, "only", counts, line)
    return Verdict(title, "not", counts, f"{title}: not confirmed ({p} at {at}, {counts}); {numbers}")


def family_lines(
    families: dict[str, str],
    members: Sequence[tuple[str, str]],
    rows: Sequence[dict[str, Any]],
    is_final: Callable[[dict[str, Any]], bool],
    at: str,
) -> list[str]:
    """Each family of Holm's adjustment (``families``: name -> what it claims) with its tests
    (``members``: (family, title) pairs) and how many of them have a p at the final step."""
    out = []
    for fam, what in families.items():
        titles = [t for f, t in members if f == fam]
        if not titles:
            continue
        tested = sum(1 for r in rows if r["family"] == fam and is_final(r) and r["_p"] is not None)
        out.append(f'"{fam}" ({what}; {tested} of {len(titles)} with a test at {at}): ' + "; ".join(titles))
    return out


# ---------------------------------------------------------------------------------- files
def write(path: Path, rows: list[dict], columns: list[str]) -> None:
    """A CSV of ``columns`` (other keys ignored), its header even without rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {path} ({len(rows)} rows)" if rows else f"wrote {path}: header only, no row yet")


def markdown_table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table: the header, its rule, one line per row."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def figure(
    cells: list[Cell], group: str, out: Path, title: str, reference: list[dict] | None = None
) -> Path | None:
    """<group>-curves.png and .csv (CURVE_COLUMNS) via plot_runs, ``reference`` points drawn over
    the runs; stale files of a group without cells are removed."""
    png, curves = out / f"{group}-curves.png", out / f"{group}-curves.csv"
    runs = [c.run for c in cells if any(np.isfinite(r["episode_return_mean"]) for r in c.rows)]
    if not runs:
        for f in (png, curves):
            if f.exists():
                f.unlink()
                print(f"removed {f}: {group} has no finished cell")
        return None
    from helmrl.analysis.curves import plot_runs

    res = plot_runs(runs, png, reference=reference, title=title)
    res["summary_csv"].unlink()  # its finals are the report's IQM table's, which knows n = 1 has no CI
    print(f"wrote {png} and {curves}")
    return png


class _PathHelpFormatter(argparse.RawDescriptionHelpFormatter):
    def _split_lines(self, text: str, width: int) -> list[str]:  # at spaces only: paths stay whole
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False, break_long_words=False)


def parser(doc: str, cells: Path, out: Path) -> argparse.ArgumentParser:
    """A report's command line: its docstring as the help, --cells and --out with their defaults."""
    ap = argparse.ArgumentParser(
        description=doc.split("\n\n")[0],
        formatter_class=_PathHelpFormatter,
        epilog=doc.split("\n\n", 1)[1],
    )
    ap.add_argument("--cells", type=Path, default=cells, help=f"the groups' cells (default {cells})")
    ap.add_argument("--out", type=Path, default=out, help=f"where the tables and figures go (default {out})")
    return ap
