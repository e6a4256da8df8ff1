"""The KeyCorridorS3R1 reproduction report: helmrl's agents against the paper's curves, with the
paper's statistics, and the screening cells beside them.

    .venv/bin/python experiments/keycorridor_repro.py [--cells DIR] [--out DIR]

Reads the sweep cells under benchmarks/results/cells/<group>/<env>-<agent>-s<seed>/ (config.json,
metrics.csv, cell.json) and only reads them. Groups:
- keycorridor-repro: the paper's settings, each agent at its authors' tuning (`--preset keycorridor`);
- keycorridor-fair: Impala-PPO and CNN-PPO at HELM's settings (lr 3e-4, 32 rollout steps, entropy 0.05);
- keycorridor-random-init: HELM with a randomly initialised LM of SmolLM2's architecture;
- keycorridor-beta100: HELM at the paper's β = 100;
- keycorridor-peers: outside peers (experiments/sb3_peer.py);
- keycorridor-lstm-segments: Impala-PPO at its authors' settings with their episode-segment
  minibatches (8 segments each; keycorridor-repro's Impala-PPO uses groups of whole env rollouts);
- keycorridor-bootstrap: CNN-PPO at HELM's settings with SB3's bootstrap of time-limit truncations;
- keycorridor-sb3-split: screening, SB3's network and weight decay in helmrl's CNN-PPO at HELM's
  settings, together and apart (why CNN-PPO at fair settings trails SB3's PPO);
- keycorridor-screen: screening cells (n = 1 or 2 per variant, mostly 200k steps).

Writes into benchmarks/results/ (every table is rewritten on each run, with its header even when
no cell has finished, so no stale table is left):
- keycorridor-repro.csv: one row per finished 300k cell, learning.csv's columns plus `group`;
- keycorridor-repro-iqm.csv: per group and agent, the return at 100k, 200k and 300k over the finished
  cells, beside the paper's mean: the IQM with a 95% stratified-bootstrap CI (rliable) from 4 runs
  on; with 2 or 3 runs the IQM is the plain mean and the bootstrap's bounds the lowest and highest
  run, so those rows give the mean with no CI (the range in the `ci` column); one run: no CI;
- keycorridor-repro-tests.csv: one-sided Mann-Whitney rank-sum tests (HELM > each baseline, SmolLM2
  HELM > random-init HELM, β = 1000 > β = 100, and the chases of a baseline's gap: each outside
  peer and each keycorridor-sb3-split variant > the helmrl baseline it stands beside) at each of
  those steps: the exact permutation p (ties included), Holm's adjustment of it within the test's
  family (the tests of one claim, at the same step) and the normal approximation;
- <group>-curves.png and <group>-curves.csv: per group, the curves of its finished cells with the
  paper's points (`helmrl plot --reference`'s drawing); a group without finished cells has none;
- keycorridor-helm-screen.csv: HELM's screening cells at the paper's points;
- keycorridor-repro-cells.md: the finished grid cells as a Markdown table (returns at 100k, 200k
  and 300k, the final return, the commits and device each ran on, the paper's means), for the docs;
- keycorridor-ablation.csv: the CNN-PPO screening variants at 200k against the keycorridor grid's CNN-PPO
  (every agent at HELM's settings; value loss 0.25·MSE, weight decay 0, output gains 0.01 / 1).
It prints the tables, the families of the tests and one verdict line per comparison
(docs/reports/keycorridor-grid.md quotes them). "confirmed" needs n >= 5 runs on both sides and
p < 0.05 exact, Holm-adjusted within the family; with fewer runs on a side the line reads as a
screen.
A return "at S steps" is the logged mean of the last 100 episodes at the last update <= S
(experiments/grid_report.py holds these rules for this report and experiments/randommaze_repro.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grid_report as shared
import numpy as np
from grid_report import (
    ALPHA,
    CONFIRM_N,
    Cell,
    Verdict,
    adjust_holm,
    ci_text,
    comparison_fields,
    expected_seeds,
    family_lines,
    figure,
    iqm_ci,
    iqm_fields,
    judge,
    load_cells,
    markdown_table,
    name,
    order,
    parser,
    ran_on,
    spread,
    statistic,
    values_of,
    with_both_sides,
    write,
)
from grid_report import rounded as _r

from helmrl.analysis.curves import read_reference
from helmrl.analysis.statistics import bootstrap_diff_ci
from helmrl.sweep import summary_row
from helmrl.sweep.summary import COLUMNS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CELLS = RESULTS / "cells"
SWEEPS = ROOT / "benchmarks" / "sweeps"
PAPER = RESULTS / "paper_curves.csv"
ENV = "MiniGrid-KeyCorridorS3R1-v0"
CHECKPOINTS = (100_000, 200_000, 300_000)
FINAL = 300_000
BOOT_REPS = 2000  # bootstrap resamples per CI

REPRO, FAIR = "keycorridor-repro", "keycorridor-fair"
RANDOM, BETA100 = "keycorridor-random-init", "keycorridor-beta100"
PEERS, SCREEN, KC_GRID = "keycorridor-peers", "keycorridor-screen", "keycorridor"
SPLIT, SEGMENTS = "keycorridor-sb3-split", "keycorridor-lstm-segments"
BOOT = "keycorridor-bootstrap"
# group -> (what it is, seeds per agent when benchmarks/sweeps/<group>.toml is not there to say)
GROUPS: dict[str, tuple[str, int]] = {
    REPRO: ("the paper's settings: each agent at its authors' tuning (--preset keycorridor)", 5),
    FAIR: ("fair settings: Impala-PPO and CNN-PPO at HELM's lr 3e-4, 32 rollout steps, entropy 0.05", 5),
    RANDOM: ("HELM with a randomly initialised LM of SmolLM2's architecture (--lm random-init)", 5),
    BETA100: ("HELM at the paper's β = 100", 2),
    PEERS: ("outside peers (experiments/sb3_peer.py)", 5),
    SEGMENTS: ("Impala-PPO at its authors' settings with their episode-segment minibatches", 5),
    BOOT: ("CNN-PPO at HELM's settings with SB3's bootstrap of time-limit truncations", 5),
    SPLIT: ("screening: SB3's network and weight decay in CNN-PPO at HELM's settings", 5),
    SCREEN: ("screening cells, n = 1 or 2 per variant (keycorridor-screen.toml and one 300k cell)", 1),
}
REFERENCE = (REPRO, "helm")  # the HELM every comparison starts from: SmolLM2, the preset's β = 1000
CELL_COLUMNS = ["group", *COLUMNS]
IQM_COLUMNS = "group agent step runs seeds measure iqm ci_low ci_high ci returns paper_mean".split()
TEST_COLUMNS = (
    "comparison family family_size group_a agent_a group_b agent_b step n_a n_b iqm_a iqm_b u "
    "p_exact p_holm p_normal significant significant_holm"
).split()
SCREEN_COLUMNS = ["variant", "seed", "step", "return_", "paper_mean"]
ABLATION_COLUMNS = (
    "variant runs returns_at_200k measure iqm ci_low ci_high ci mean_minus_grid_cnn diff_ci_low diff_ci_high "
    "diff_ci"
).split()
# the shared pieces this report's tests reach through it
CURVE_COLUMNS, one_sided, _iqm_ci = shared.CURVE_COLUMNS, shared.one_sided, shared._iqm_ci
GRID_CNN = "keycorridor grid cnn (value loss 0.25·MSE, weight decay 0, gains 0.01 / 1)"


def finished_cells(cells: list[Cell]) -> list[Cell]:
    """The cells trained to their total_steps, and that at least 300k."""
    return [c for c in cells if c.finished and c.cfg.total_steps >= FINAL]


def planned(sweeps: Path, group: str, key: str) -> int:
    """Cells the group's spec has for this agent (or the planned seed count while it has none)."""
    return expected_seeds(sweeps, group, key, GROUPS[group][1])


# ---------------------------------------------------------------------------------- tables
def cells_markdown(finished: list[Cell], paper: dict[tuple[str, int], float]) -> str:
    """The finished grid cells, one table row each, as docs/reports/keycorridor-grid.md shows them."""
    head = "group agent seed 100k 200k 300k final commit device".split() + ["paper 100k / 200k / 300k"]
    rows = []
    for c in finished:
        at = [c.return_at(s) for s in CHECKPOINTS]
        ref = " / ".join(
            f"{paper[(c.cfg.agent, s)]:.2f}" if (c.cfg.agent, s) in paper else "-" for s in CHECKPOINTS
        )
        commit, device = ran_on(c.run)
        final = c.rows[-1]["episode_return_mean"]
        vals = ["-" if v is None else f"{v:.3f}" for v in at]
        rows.append([c.group, name(c.key), str(c.cfg.seed), *vals, f"{final:.3f}", commit, device, ref])
    return markdown_table(head, rows)


def cell_rows(finished: list[Cell]) -> list[dict[str, Any]]:
    """One row per finished 300k cell: learning.csv's columns plus the group."""
    rows = []
    for c in finished:
        row = summary_row(c.run)
        rows.append({"group": c.group, **{k: row[k] for k in COLUMNS}})
    return rows


def iqm_table(finished: list[Cell], paper: dict[tuple[str, int], float]) -> list[dict[str, Any]]:
    table = []
    for group, key in sorted({(c.group, c.key) for c in finished}, key=_order):
        for step in CHECKPOINTS:
            vals, seeds = values_of(finished, group, key, step)
            if len(vals) == 0:
                continue
            fields = iqm_fields(vals, seeds, BOOT_REPS)
            fields["measure"] = fields.pop("statistic")
            paper_mean = paper.get((key.partition(":")[0], step), "")
            table.append(dict(group=group, agent=key, step=step, **fields, paper_mean=paper_mean))
    return table


def _order(gk: tuple[str, str]) -> tuple[int, int, str]:
    return order(gk, list(GROUPS))


def comparisons(finished: list[Cell]) -> list[tuple[str, tuple[str, str], tuple[str, str]]]:
    """(title, a, b) for each one-sided test a > b: the paper's claim first (HELM > Impala-PPO and
    HELM > CNN-PPO at the paper's and at fair settings), then HELM against every other agent or
    HELM variant of the grid groups, cells or not."""
    claim = [
        ("HELM > Impala-PPO, paper's settings", REFERENCE, (REPRO, "lstm")),
        ("HELM > CNN-PPO, paper's settings", REFERENCE, (REPRO, "cnn")),
        ("HELM > Impala-PPO, fair settings", REFERENCE, (FAIR, "lstm")),
        ("HELM > CNN-PPO, fair settings", REFERENCE, (FAIR, "cnn")),
    ]
    seen = {b for _, _, b in claim}
    more = []
    for group in (RANDOM, BETA100, PEERS, SEGMENTS, BOOT, SPLIT, REPRO, FAIR):
        keys = {c.key for c in finished if c.group == group}
        if group == RANDOM:
            keys = keys or {"helm"}
            title = "SmolLM2 HELM > random-init HELM"
        elif group == BETA100:
            keys = keys or {"helm"}
            title = "HELM β = 1000 > HELM β = 100"
        else:
            title = ""
        for key in sorted(keys):
            if (group, key) in seen or (group, key) == REFERENCE:
                continue
            seen.add((group, key))
            if not title:
                label = f"HELM > {name(key)} ({group})"
            else:
                label = title + (f" ({name(key)})" if len(keys) > 1 else "")
            more.append((label, REFERENCE, (group, key)))
    return claim + more + chases(finished)


# the helmrl baseline each outside peer stands beside: the same PPO numbers (sb3_peer.py)
PEER_OF = {"sb3-ppo": (FAIR, "cnn"), "sb3-lstm": (REPRO, "lstm")}


def chases(finished: list[Cell]) -> list[tuple[str, tuple[str, str], tuple[str, str]]]:
    """(title, a, b) for the tests that chase a baseline's gap: each outside peer (and each variant
    of one) > the helmrl baseline at its PPO numbers, each peer > its variants, Impala-PPO with the
    authors' episode-segment minibatches > with whole-rollout ones, CNN-PPO with the truncation
    bootstrap > without it, and each keycorridor-sb3-split variant > CNN-PPO at HELM's settings
    (the group's plain "cnn" cells would be keycorridor-fair's own, so they are not compared)."""
    out = []
    peers = sorted(k for k in {c.key for c in finished if c.group == PEERS} if k.partition(":")[0] in PEER_OF)
    for key in peers:
        base = key.partition(":")[0]
        b = PEER_OF[base]
        at = " at its authors' settings" if b[0] == REPRO else ""
        out.append((f"{side_name(PEERS, key)} > {side_name(*b)}{at}", (PEERS, key), b))
        if key != base:  # a variant of a peer (e.g. no-bootstrap): does the change cost it?
            out.append((f"{side_name(PEERS, base)} > {side_name(PEERS, key)}", (PEERS, base), (PEERS, key)))
    if any(c.group == SEGMENTS and c.key == "lstm" for c in finished):
        title = f"{side_name(SEGMENTS, 'lstm')} > Impala-PPO at its authors' settings"
        out.append((title, (SEGMENTS, "lstm"), (REPRO, "lstm")))
    for key in sorted({c.key for c in finished if c.group == BOOT}):
        without = (FAIR, "cnn") if key == "cnn" else (SPLIT, key)  # the same cells but the bootstrap
        out.append((f"{side_name(BOOT, key)} > {side_name(*without)}", (BOOT, key), without))
    for key in sorted({c.key for c in finished if c.group == SPLIT} - {"cnn"}):
        out.append((f"{side_name(SPLIT, key)} > {side_name(FAIR, 'cnn')}", (SPLIT, key), (FAIR, "cnn")))
    return out


# the families of Holm's adjustment: the tests that belong to one claim, adjusted together at each step
CLAIM = "the paper's claim: HELM > Impala-PPO and > CNN-PPO, at both settings"
FAMILIES = {
    CLAIM: "HELM beats both baselines, at the paper's settings and at fair settings",
    "the pretrained LM": "SmolLM2 HELM > random-init HELM, a claim of its own",
    "β": "HELM at β = 1000 > at β = 100, a claim of its own",
    "HELM > the outside peers": "HELM against each Stable-Baselines3 peer",
    "HELM > the baselines' variants": "HELM against each changed Impala-PPO or CNN-PPO",
    "Impala-PPO's gap": "what closes Impala-PPO's gap to the paper: each change > Impala-PPO",
    "CNN-PPO's gap": "what closes CNN-PPO's gap to SB3's PPO: each peer or change > the one beside it",
}


def family(comp: tuple) -> str:
    """The family (a key of FAMILIES) one comparison belongs to."""
    title, a, (gb, kb) = comp
    if title.startswith(("HELM > Impala-PPO, ", "HELM > CNN-PPO, ")) and gb in (REPRO, FAIR):
        return CLAIM
    if a == REFERENCE:
        if gb == RANDOM:
            return "the pretrained LM"
        if gb == BETA100:
            return "β"
        return "HELM > the outside peers" if gb == PEERS else "HELM > the baselines' variants"
    return "Impala-PPO's gap" if kb.partition(":")[0] == "lstm" else "CNN-PPO's gap"


def compare(finished: list[Cell], comp: tuple, step: int) -> dict[str, Any]:
    """One comparison a > b at one step: the runs on each side and the one-sided test (Holm's
    adjustment needs its family: all_tests adds it)."""
    title, (ga, ka), (gb, kb) = comp
    a, _ = values_of(finished, ga, ka, step)
    b, _ = values_of(finished, gb, kb, step)
    ids = dict(comparison=title, family=family(comp), group_a=ga, agent_a=ka, group_b=gb, agent_b=kb)
    return dict(**ids, step=step, **comparison_fields(a, b, ALPHA))


def all_tests(finished: list[Cell], comps: list) -> list[dict[str, Any]]:
    """Every comparison at 100k, 200k and 300k, with Holm's adjustment of its exact p over the
    tests of its family at the same step that have a p (family_size says how many)."""
    return adjust_holm([compare(finished, comp, step) for comp in comps for step in CHECKPOINTS])


# ---------------------------------------------------------------------------------- verdicts
SIDE = {FAIR: "{} at HELM's settings", RANDOM: "random-init {}", BETA100: "{} at β = 100",
        PEERS: "{} (outside peer)", SCREEN: "{} (screening)", SPLIT: "{} (screening)",
        SEGMENTS: "{} with episode-segment minibatches",
        BOOT: "{} with the truncation bootstrap"}  # fmt: skip


def side_name(group: str, key: str) -> str:
    return SIDE.get(group, "{}").format(name(key))


def _side(finished: list[Cell], group: str, key: str, paper: dict) -> str:
    vals, _ = values_of(finished, group, key, FINAL)
    ref = paper.get((key.partition(":")[0], FINAL)) if group == REPRO else None
    ref_text = "" if ref is None else f" (paper {ref:.2f})"
    if len(vals) == 0:
        return f"{side_name(group, key)}: no finished cell{ref_text}"
    return f"{side_name(group, key)} {spread(vals, BOOT_REPS)}{ref_text}"


def verdict(finished: list[Cell], comp: tuple, rows: dict[int, dict], sweeps: Path, paper: dict) -> Verdict:
    """The verdict on one comparison a > b from its tests (``rows``, by step): open while planned
    seeds are missing; a screen when a side has fewer than CONFIRM_N runs; else the test at 300k,
    "confirmed" only where its exact p is below ALPHA after Holm's adjustment too
    (grid_report.judge)."""
    title, (ga, ka), (gb, kb) = comp
    expected = planned(sweeps, ga, ka), planned(sweeps, gb, kb)
    numbers = f"at 300k {_side(finished, ga, ka, paper)}; {_side(finished, gb, kb, paper)}"
    return judge(title, rows, FINAL, expected, (side_name(ga, ka), side_name(gb, kb)), numbers)


def overall(part: str, at_paper: Verdict, at_fair: Verdict) -> str:
    """One part of the claim over both settings."""
    baseline = part.split("> ")[1]
    if "open" in (at_paper.status, at_fair.status):
        what = f"open: {at_paper.counts} at the paper's settings; {at_fair.counts} at fair settings"
    elif "screen" in (at_paper.status, at_fair.status):
        what = f"a screen only (under {CONFIRM_N} runs on a side): see the two lines below"
    elif at_paper.status == at_fair.status == "confirmed":
        what = "confirmed, at the paper's settings and at fair settings"
    elif at_paper.status == "confirmed":
        what = f"confirmed only when {baseline} runs at its authors' settings, not at HELM's"
    elif at_fair.status == "confirmed":
        what = f"confirmed only when {baseline} runs at HELM's settings, not at its authors'"
    else:
        what = "not confirmed at 300k, at either setting"
    return f"{part}, overall: {what}"


def families(comps: list, rows: list[dict[str, Any]]) -> list[str]:
    """Each family of Holm's adjustment with its tests, and how many of them have a p at 300k."""
    members = [(family(c), c[0]) for c in comps]
    return family_lines(FAMILIES, members, rows, lambda r: r["step"] == FINAL, "300k")


def verdict_lines(finished: list[Cell], comps: list, sweeps: Path, paper: dict, rows=None) -> list[str]:
    """The two parts of the claim over both settings, then every comparison's own verdict."""
    rows = all_tests(finished, comps) if rows is None else rows
    by = {(r["comparison"], r["step"]): r for r in rows}
    verdicts = {
        comp[0]: verdict(finished, comp, {s: by[(comp[0], s)] for s in CHECKPOINTS}, sweeps, paper)
        for comp in comps
    }
    parts = ("HELM > Impala-PPO", "HELM > CNN-PPO")
    head = [overall(p, verdicts[f"{p}, paper's settings"], verdicts[f"{p}, fair settings"]) for p in parts]
    return head + [v.line for v in verdicts.values()]


# ---------------------------------------------------------------------------------- files
def screening(cells_root: Path, screen: list[Cell], paper: dict) -> tuple[list[dict], list[dict]]:
    """HELM's screening cells at the paper's points; the CNN-PPO variants at 200k against the keycorridor
    grid's CNN-PPO (every agent at HELM's settings; value loss 0.25·MSE, weight decay 0, gains 0.01 / 1)."""
    helm = []
    for c in screen:
        if c.cfg.agent != "helm":
            continue
        for step in (50_000, 100_000, 150_000, 200_000, 300_000):
            if (value := c.return_at(step)) is not None:
                helm.append(
                    dict(
                        variant=c.key.partition(":")[2] or c.key,
                        seed=c.cfg.seed,
                        step=step,
                        return_=round(value, 3),
                        paper_mean=paper.get(("helm", step), ""),
                    )
                )
    at = 200_000
    grid = load_cells(cells_root, KC_GRID, ENV)
    base = np.array([v for c in grid if c.key == "cnn" if (v := c.return_at(at)) is not None])
    ablation = []
    variants = sorted({c.key for c in screen if c.cfg.agent != "helm"})
    for key in variants:
        vals = np.array([v for c in screen if c.key == key if (v := c.return_at(at)) is not None])
        if len(vals) == 0:
            continue
        point, lo, hi = iqm_ci(vals, BOOT_REPS)
        d, dlo, dhi = bootstrap_diff_ci(vals, base) if len(base) else (None, None, None)
        ablation.append(
            dict(
                variant=key.partition(":")[2] or key,
                runs=len(vals),
                returns_at_200k=" ".join(f"{v:.3f}" for v in vals),
                measure=statistic(len(vals)),
                iqm=round(point, 3),
                ci_low=_r(lo),
                ci_high=_r(hi),
                ci=ci_text(lo, hi, vals),
                mean_minus_grid_cnn=_r(d),
                diff_ci_low=_r(dlo),
                diff_ci_high=_r(dhi),
                diff_ci="" if d is None else ci_text(dlo, dhi),
            )
        )
    if len(base):
        point, lo, hi = iqm_ci(base, BOOT_REPS)
        ablation.insert(
            0,
            dict(
                variant=GRID_CNN,
                runs=len(base),
                returns_at_200k=" ".join(f"{v:.3f}" for v in base),
                measure=statistic(len(base)),
                iqm=round(point, 3),
                ci_low=_r(lo),
                ci_high=_r(hi),
                ci=ci_text(lo, hi, base),
                mean_minus_grid_cnn=0.0,
                diff_ci_low="",
                diff_ci_high="",
                diff_ci="",
            ),
        )
    return helm, ablation


def build_report(
    cells_root: Path = CELLS, out: Path = RESULTS, paper_csv: Path = PAPER, sweeps: Path = SWEEPS
) -> dict[str, Any]:
    cells_root, out = Path(cells_root), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    reference = read_reference(paper_csv)
    paper = {(r["agent"], int(r["step"])): r["return"] for r in reference if r["env_id"] == ENV}
    by_group = {g: load_cells(cells_root, g, ENV) for g in GROUPS}
    finished = [c for g in GROUPS for c in finished_cells(by_group[g])]
    finished.sort(key=lambda c: (*_order((c.group, c.key)), c.cfg.seed))
    grid = [c for c in finished if c.group != SCREEN]
    if not grid:
        print(
            f"no finished 300k cell in the grid groups under {cells_root}: the tables below have headers only"
        )

    paths = {
        "cells": out / "keycorridor-repro.csv",
        "iqm": out / "keycorridor-repro-iqm.csv",
        "tests": out / "keycorridor-repro-tests.csv",
        "helm_screen": out / "keycorridor-helm-screen.csv",
        "ablation": out / "keycorridor-ablation.csv",
    }
    rows = cell_rows(finished)
    write(paths["cells"], rows, CELL_COLUMNS)
    paths["cells_md"] = out / "keycorridor-repro-cells.md"
    paths["cells_md"].write_text(cells_markdown(grid, paper))
    table = iqm_table(finished, paper)
    write(paths["iqm"], table, IQM_COLUMNS)
    comps = comparisons(finished)
    every_test = all_tests(finished, comps)
    tests = with_both_sides(every_test)
    write(paths["tests"], tests, TEST_COLUMNS)
    figures = {}
    for group in GROUPS:
        members = by_group[group] if group == SCREEN else [c for c in finished if c.group == group]
        figures[group] = figure(members, group, out, f"{group}: {GROUPS[group][0]}", reference)
    helm, ablation = screening(cells_root, by_group[SCREEN], paper)
    write(paths["helm_screen"], helm, SCREEN_COLUMNS)
    write(paths["ablation"], ablation, ABLATION_COLUMNS)
    verdicts = verdict_lines(finished, comps, sweeps, paper, every_test)
    return {
        "paths": paths,
        "figures": figures,
        "rows": rows,
        "iqm": table,
        "tests": tests,
        "helm_screen": helm,
        "ablation": ablation,
        "verdicts": verdicts,
        "families": families(comps, every_test),
    }


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__, CELLS, RESULTS)
    ap.add_argument("--paper", type=Path, default=PAPER, help=f"the paper's points (default {PAPER})")
    ap.add_argument(
        "--sweeps",
        type=Path,
        default=SWEEPS,
        help=f"the groups' specs, for the seeds each plans (default {SWEEPS})",
    )
    args = ap.parse_args(argv)
    report = build_report(args.cells, args.out, args.paper, args.sweeps)
    print("\ngroups (finished 300k cells):")
    for group, (what, _) in GROUPS.items():
        print(f"  {group:24s} {sum(r['group'] == group for r in report['rows'])}  {what}")
    print(
        "\nthe return at 100k / 200k / 300k steps, finished 300k cells: IQM [95% CI] from 4 runs on;"
        " with 2 or 3 runs the mean (the IQM of so few) and the runs' range, no CI:"
    )
    for r in report["iqm"]:
        what = "IQM" if r["ci_low"] != "" else "mean" if r["runs"] > 1 else "    "
        print(
            f"  {r['group']:24s} {r['agent']:20s} {r['step'] // 1000:3d}k n={r['runs']} {what} "
            f"{r['iqm']:.3f} {r['ci']:18s} paper {r['paper_mean'] or '-'}  ({r['returns']})"
        )
    print("\nfamilies of Holm's adjustment (the tests of one claim, adjusted together at each step):")
    for line in report["families"]:
        print(f"  {line}")
    print(
        "\nverdicts (one-sided Mann-Whitney rank-sum test at 300k, exact permutation p < 0.05 after Holm's"
        f" adjustment; n >= {CONFIRM_N} on both sides to confirm, fewer: a screen):"
    )
    for line in report["verdicts"]:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
