"""The RandomMaze-v0 reproduction report: HELM against Impala-PPO and CNN-PPO with the paper's
statistics, whether memory is needed, what the pretrained LM adds, the β screen and the outside peers.

    .venv/bin/python experiments/randommaze_repro.py [--cells DIR] [--out DIR]

Reads the sweep cells under benchmarks/results/cells/<group>/RandomMaze-v0-<agent>[-<label>]-s<seed>/
(config.json, metrics.csv, cell.json) and only reads them. Groups:
- randommaze-repro: HELM, Impala-PPO (lstm) and CNN-PPO (cnn) at the authors' settings
  (`--preset randommaze`), seeds 0-4, 2M steps;
- randommaze-peers: outside peers (experiments/sb3_peer.py): SB3's PPO (sb3-ppo, memoryless) and
  sb3-contrib's RecurrentPPO (sb3-lstm), seeds 0-4, 2M steps;
- randommaze-random-init: HELM with a randomly initialised LM of SmolLM2's architecture
  (`--lm random-init`), seeds 0-4, 2M steps;
- randommaze-lstm-rollouts: Impala-PPO with minibatches of whole env rollouts
  (`segments_per_minibatch=0`, label "lstm-rollouts") instead of the authors' episode segments,
  seeds 0-4, 2M steps;
- randommaze-beta-screen: a screen, HELM at β = 100 ("helm") and β = 1000 ("helm-beta1000"), seeds
  0-1, 500k steps; its verdicts never read "confirmed".
Memory agents: helm (either LM), lstm, sb3-lstm; memoryless: cnn, sb3-ppo.

The protocol (experiments/grid_report.py holds it for every report): a cell is finished when its
metrics.csv reached its config's total_steps. The return "at S steps" is the logged mean return
of the last 100 training episodes (metrics.csv's episode_return_mean, the paper's return) at the
last update <= S; a run that has not reached S (its last update <= S a whole update or more below
S) has none. eval_sampled and eval_greedy are the final policy's mean return over cell.json's
fresh evaluation episodes (100), sampling its actions and taking the most likely one.

Writes into benchmarks/results/ (every table is rewritten on each run, with its header even when
no cell has finished, so no stale table is left):
- randommaze-repro.csv: one row per finished cell: learning.csv's columns plus group, label,
  eval_sampled and eval_greedy (nan where cell.json has no evaluation), cpu_model and commits;
- randommaze-repro-iqm.csv: per group and agent[:label], the return at 500k, 1M and 2M (the screen
  at 500k only) and, at the group's final step, eval_sampled and eval_greedy (`measure`): the IQM
  with a 95% stratified-bootstrap CI (rliable) from 4 runs on; with 2 or 3 runs the plain mean
  with the runs' range (min, max) and no CI (`statistic` says which); one run: its value;
- randommaze-repro-tests.csv: one-sided Mann-Whitney rank-sum tests a > b at each step on the
  training return and at the final step on eval_sampled and eval_greedy (`measure`): the exact
  permutation p (ties included), Holm's adjustment within the family (its tests of one measure at
  one step) and the normal approximation. Families: "the paper's claim" (HELM > Impala-PPO, HELM >
  CNN-PPO); "memory needed" (the best memory agent > the best memoryless agent, each picked by
  IQM at 2M among the agents with n >= 5 on the same data the test then uses, so its p is
  optimistic; `note` names the pick); "LM pretraining" (HELM > random-init HELM); "β screen"
  (β = 1000 > β = 100 and the reverse, both one-sided p: the interest is two-sided); "peers"
  (each outside peer > the helmrl baseline beside it: sb3-lstm > Impala-PPO, sb3-ppo > CNN-PPO);
- <group>-curves.png and <group>-curves.csv: per group with finished cells, their curves
  (`helmrl plot`'s drawing; the paper gives no RandomMaze curve to draw over them);
- randommaze-repro-cells.md: the finished cells as a Markdown table (returns at 500k, 1M and 2M,
  the final return, the evaluations, the commits and CPU each ran on), for the docs.
It prints the tables, the families, the memory pick and one verdict line per comparison, on the
training return and then on each evaluation: "confirmed" needs n >= 5 runs on both sides and
p < 0.05 exact after Holm's adjustment within the family; while planned seeds are missing the line
reads "open", with fewer than 5 on a side (or in the β screen) "screen", and a test that is not
significant at full n "not confirmed" (never a claim of no difference).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grid_report import (
    ALPHA,
    CONFIRM_N,
    MEASURES,
    NOT_RECORDED,
    Cell,
    adjust_holm,
    comparison_fields,
    expected_seeds,
    family_lines,
    figure,
    iqm_fields,
    judge,
    load_cells,
    markdown_table,
    name,
    order,
    parser,
    ran_on,
    spread,
    step_label,
    values_of,
    with_both_sides,
    write,
)

from helmrl.analysis.statistics import iqm
from helmrl.sweep import summary_row
from helmrl.sweep.summary import COLUMNS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
CELLS = RESULTS / "cells"
SWEEPS = ROOT / "benchmarks" / "sweeps"
ENV = "RandomMaze-v0"
CHECKPOINTS = (500_000, 1_000_000, 2_000_000)
FINAL = 2_000_000
SCREEN_STEPS = (500_000,)
BOOT_REPS = 2000  # bootstrap resamples per CI

REPRO, PEERS = "randommaze-repro", "randommaze-peers"
RANDOM, BETA = "randommaze-random-init", "randommaze-beta-screen"
ROLLOUTS = "randommaze-lstm-rollouts"
# group -> (what it is, seeds per agent when benchmarks/sweeps/<group>.toml is not there to say, steps)
GROUPS: dict[str, tuple[str, int, tuple[int, ...]]] = {
    REPRO: ("the authors' settings (--preset randommaze): HELM, Impala-PPO and CNN-PPO", 5, CHECKPOINTS),
    PEERS: ("outside peers (experiments/sb3_peer.py): SB3 PPO and sb3-contrib RecurrentPPO", 5, CHECKPOINTS),
    RANDOM: (
        "HELM with a randomly initialised LM of SmolLM2's architecture (--lm random-init)",
        5,
        CHECKPOINTS,
    ),
    BETA: ("a screen: HELM at β = 100 and at β = 1000, 500k steps, 2 seeds each", 2, SCREEN_STEPS),
    ROLLOUTS: (
        "Impala-PPO with whole-rollout minibatches (sb3-contrib's and CleanRL's scheme) for the authors' "
        "episode segments",
        5,
        CHECKPOINTS,
    ),
}
AGENTS = ("helm", "lstm", "cnn", "sb3-lstm", "sb3-ppo")
MEMORY, MEMORYLESS = ("helm", "lstm", "sb3-lstm"), ("cnn", "sb3-ppo")
PICK_GROUPS = (REPRO, PEERS, RANDOM, ROLLOUTS)  # the 2M groups the memory pick chooses from
PEER_OF = {"sb3-lstm": (REPRO, "lstm"), "sb3-ppo": (REPRO, "cnn")}  # the helmrl baseline beside each
BETA_NAMES = {"helm": "HELM at β = 100", "helm:helm-beta1000": "HELM at β = 1000"}  # the screen's spec

# the families of Holm's adjustment: the tests of one claim, adjusted together per step and measure
CLAIM, MEMORY_FAMILY, LM = "the paper's claim", "memory needed", "LM pretraining"
SCREEN, PEER = "β screen", "peers"
SCHEME = "minibatch scheme"
FAMILIES = {
    CLAIM: "HELM > Impala-PPO and HELM > CNN-PPO",
    MEMORY_FAMILY: "the best memory agent > the best memoryless agent, picked on the same data: p optimistic",
    LM: "HELM > random-init HELM: what the pretrained LM adds",
    SCREEN: "β = 1000 against β = 100, both one-sided tests (two-sided interest), a screen",
    PEER: "each outside peer > the helmrl baseline beside it: is helmrl's baseline as good as an outside one",
    SCHEME: "Impala-PPO with whole-rollout minibatches > with the authors' episode segments",
}
CELL_COLUMNS = ["group", "env", "agent", "label", *COLUMNS[2:], "cpu_model", "commits"]
IQM_COLUMNS = "group agent step measure runs seeds statistic iqm ci_low ci_high ci returns".split()
TEST_COLUMNS = (
    "comparison family family_size measure group_a agent_a group_b agent_b step n_a n_b iqm_a iqm_b u "
    "p_exact p_holm p_normal significant significant_holm note"
).split()
MEASURE_TEXT = {
    "training": "the return (last 100 training episodes)",
    "eval_sampled": "the final policy's sampled evaluation",
    "eval_greedy": "the final policy's greedy evaluation",
}


@dataclass(frozen=True)
class Comparison:
    title: str
    family: str
    a: tuple[str, str]  # (group, agent[:label])
    b: tuple[str, str]
    note: str = ""

    @property
    def steps(self) -> tuple[int, ...]:
        """The checkpoints both sides have: 500k, 1M and 2M, or the screen's 500k."""
        return tuple(s for s in GROUPS[self.a[0]][2] if s in GROUPS[self.b[0]][2])

    @property
    def final(self) -> int:
        return self.steps[-1]

    @property
    def screen(self) -> bool:
        return BETA in (self.a[0], self.b[0])


@dataclass
class MemoryPick:
    """The best memory and memoryless agents by IQM at 2M among those with n >= CONFIRM_N."""

    memory: tuple[str, str] | None
    memoryless: tuple[str, str] | None
    text: str  # the candidates and the pick, for the note and the printout


# ---------------------------------------------------------------------------------- names
def side_name(group: str, key: str) -> str:
    if group == BETA:
        return BETA_NAMES.get(key, f"{name(key)} (β screen)")
    return {PEERS: "{} (outside peer)", RANDOM: "random-init {}"}.get(group, "{}").format(name(key))


def planned(sweeps: Path, group: str, key: str) -> int:
    """Cells the group's spec has for this agent (or the planned seed count while it has none)."""
    return expected_seeds(sweeps, group, key, GROUPS[group][1])


def _order(gk: tuple[str, str]) -> tuple:
    return order(gk, list(GROUPS), AGENTS)


def cpu_of(c: Cell) -> str:
    """The CPU the cell ran on: cell.json's cpu_model, else its device line (which names the CPU
    for a CPU run), else "not recorded"."""
    return c.info.get("cpu_model") or c.info.get("device") or NOT_RECORDED


# ---------------------------------------------------------------------------------- tables
def cell_rows(finished: list[Cell]) -> list[dict[str, Any]]:
    """One row per finished cell: learning.csv's columns plus group, label, the evaluations, the
    CPU and the commits."""
    rows = []
    for c in finished:
        row = summary_row(c.run)
        commits, _ = ran_on(c.run)
        extra = dict(agent=c.cfg.agent, label=c.cfg.label, cpu_model=cpu_of(c), commits=commits)
        rows.append({"group": c.group, **{k: row[k] for k in COLUMNS}, **extra})
    return rows


def cells_markdown(finished: list[Cell]) -> str:
    """The finished cells, one table row each, for the docs."""
    head = ["group", "agent", "seed", *map(step_label, CHECKPOINTS), "final", "eval sampled", "eval greedy"]
    rows = []
    for c in finished:
        at = [c.return_at(s) for s in CHECKPOINTS]
        evals = [c.eval_mean(m) for m in MEASURES[1:]]
        vals = ["-" if v is None else f"{v:.3f}" for v in (*at, c.rows[-1]["episode_return_mean"], *evals)]
        rows.append([c.group, name(c.key), str(c.cfg.seed), *vals, ran_on(c.run)[0], cpu_of(c)])
    return markdown_table([*head, "commits", "CPU"], rows)


def iqm_table(finished: list[Cell]) -> list[dict[str, Any]]:
    """Per group and agent: the training return at each of the group's steps, then the
    evaluations at its final step."""
    table = []
    for group, key in sorted({(c.group, c.key) for c in finished}, key=_order):
        steps = GROUPS[group][2]
        for step, measure in [(s, "training") for s in steps] + [(steps[-1], m) for m in MEASURES[1:]]:
            vals, seeds = values_of(finished, group, key, step, measure)
            if len(vals) == 0:
                continue
            fields = iqm_fields(vals, seeds, BOOT_REPS)
            table.append(dict(group=group, agent=key, step=step, measure=measure, **fields))
    return table


# ---------------------------------------------------------------------------------- comparisons
def memory_pick(finished: list[Cell]) -> MemoryPick:
    """The best memory agent and the best memoryless agent: the highest IQM of the return at 2M
    among the (group, agent) of the 2M groups with n >= CONFIRM_N there."""
    picks, parts = [], []
    for kind, agents in (("memory", MEMORY), ("memoryless", MEMORYLESS)):
        sides = sorted(
            {(c.group, c.key) for c in finished if c.group in PICK_GROUPS and c.cfg.agent in agents},
            key=_order,
        )
        scored = []
        for side in sides:
            vals, _ = values_of(finished, *side, FINAL)
            if len(vals):
                scored.append((side, len(vals), iqm(vals)))
        eligible = [s for s in scored if s[1] >= CONFIRM_N]
        best = max(eligible, key=lambda s: s[2])[0] if eligible else None
        listed = ", ".join(f"{side_name(*s)} {v:.3f} (n = {n})" for s, n, v in scored) or "no finished cell"
        chosen = side_name(*best) if best else f"none with n >= {CONFIRM_N} yet"
        picks.append(best)
        parts.append(f"best {kind} agent: {chosen} (IQM at {step_label(FINAL)}: {listed})")
    text = (
        "; ".join(parts) + f"; picked by IQM at {step_label(FINAL)} among n >= {CONFIRM_N} on the same data "
        "the test uses, so its p is optimistic"
    )
    return MemoryPick(picks[0], picks[1], text)


def comparisons(finished: list[Cell], pick: MemoryPick) -> list[Comparison]:
    """Every one-sided test a > b, family by family: the paper's claim, memory needed (when both
    sides have a pick), LM pretraining, the β screen both ways, the peers."""
    helm = (REPRO, "helm")
    out = [
        Comparison("HELM > Impala-PPO", CLAIM, helm, (REPRO, "lstm")),
        Comparison("HELM > CNN-PPO", CLAIM, helm, (REPRO, "cnn")),
    ]
    if pick.memory and pick.memoryless:
        title = (
            f"memory needed (best memory agent {side_name(*pick.memory)} > "
            f"best memoryless agent {side_name(*pick.memoryless)})"
        )
        out.append(Comparison(title, MEMORY_FAMILY, pick.memory, pick.memoryless, pick.text))
    randoms = sorted({c.key for c in finished if c.group == RANDOM and c.cfg.agent == "helm"}) or ["helm"]
    for key in randoms:
        suffix = f" ({name(key)})" if len(randoms) > 1 else ""
        out.append(Comparison(f"HELM > random-init HELM{suffix}", LM, helm, (RANDOM, key)))
    both = "two-sided interest: both directions tested, Holm over the two"
    high, low = (BETA, "helm:helm-beta1000"), (BETA, "helm")
    for a, b in ((high, low), (low, high)):
        out.append(Comparison(f"β screen: {side_name(*a)} > {side_name(*b)}", SCREEN, a, b, both))
    peers = set(PEER_OF) | {c.key for c in finished if c.group == PEERS and c.cfg.agent in PEER_OF}
    for key in sorted(peers):
        base = PEER_OF[key.partition(":")[0]]
        out.append(Comparison(f"{side_name(PEERS, key)} > {side_name(*base)}", PEER, (PEERS, key), base))
    rollouts = (ROLLOUTS, "lstm:lstm-rollouts")
    out.append(
        Comparison(f"{side_name(*rollouts)} > {side_name(REPRO, 'lstm')}", SCHEME, rollouts, (REPRO, "lstm"))
    )
    return out


def compare(finished: list[Cell], comp: Comparison, step: int, measure: str) -> dict[str, Any]:
    """One comparison a > b at one step on one measure (all_tests adds Holm's adjustment)."""
    a, _ = values_of(finished, *comp.a, step, measure)
    b, _ = values_of(finished, *comp.b, step, measure)
    return dict(
        comparison=comp.title,
        family=comp.family,
        measure=measure,
        group_a=comp.a[0],
        agent_a=comp.a[1],
        group_b=comp.b[0],
        agent_b=comp.b[1],
        step=step,
        **comparison_fields(a, b, ALPHA),
        note=comp.note,
        _final=comp.final,
    )


def all_tests(finished: list[Cell], comps: list[Comparison]) -> list[dict[str, Any]]:
    """Every comparison on the training return at each of its steps and on each evaluation at its
    final step, Holm-adjusted over its family's tests of the same measure at the same step."""
    rows = []
    for comp in comps:
        rows += [compare(finished, comp, s, "training") for s in comp.steps]
        rows += [compare(finished, comp, comp.final, m) for m in MEASURES[1:]]
    return adjust_holm(rows, by=("family", "step", "measure"))


# ---------------------------------------------------------------------------------- verdicts
def _side(finished: list[Cell], side: tuple[str, str], step: int, measure: str) -> str:
    vals, _ = values_of(finished, *side, step, measure)
    if len(vals) == 0:
        return f"{side_name(*side)}: no finished cell"
    return f"{side_name(*side)} {spread(vals, BOOT_REPS)}"


def verdict_lines(
    finished: list[Cell], comps: list[Comparison], rows: list[dict], pick: MemoryPick, sweeps: Path
) -> dict[str, list[str]]:
    """One verdict line per comparison and measure (grid_report.judge): {measure: lines}.
    Without a memory pick the memory line is open."""
    by = {(r["comparison"], r["measure"], r["step"]): r for r in rows}
    out: dict[str, list[str]] = {m: [] for m in MEASURES}
    for measure in MEASURES:
        for comp in comps:
            steps = comp.steps if measure == "training" else (comp.final,)
            at = f"at {step_label(comp.final)}" + ("" if measure == "training" else f" ({measure})")
            numbers = (
                f"{at} {_side(finished, comp.a, comp.final, measure)}; "
                f"{_side(finished, comp.b, comp.final, measure)}"
            )
            expected = planned(sweeps, *comp.a), planned(sweeps, *comp.b)
            sides = side_name(*comp.a), side_name(*comp.b)
            title = comp.title if measure == "training" else f"{comp.title} [{measure}]"
            step_rows = {s: by[(comp.title, measure, s)] for s in steps}
            line = judge(title, step_rows, comp.final, expected, sides, numbers, screen=comp.screen).line
            if comp.family == MEMORY_FAMILY:
                line += "; the pick was made on the same data, so this p is optimistic"
            out[measure].append(line)
        if not any(c.family == MEMORY_FAMILY for c in comps):  # after the paper's claim
            what = "" if measure == "training" else f" [{measure}]"
            title = f"memory needed (best memory agent > best memoryless agent){what}"
            line = f"{title}: open: no pick yet; " + (pick.text if measure == "training" else "see above")
            out[measure].insert(sum(c.family == CLAIM for c in comps), line)
    return out


def _final_training(row: dict[str, Any]) -> bool:
    """A test on the training return at its comparison's final step."""
    return row["measure"] == "training" and row["step"] == row["_final"]


# ---------------------------------------------------------------------------------- report
def build_report(cells_root: Path = CELLS, out: Path = RESULTS, sweeps: Path = SWEEPS) -> dict[str, Any]:
    cells_root, out = Path(cells_root), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    finished = [c for g in GROUPS for c in load_cells(cells_root, g, ENV) if c.finished]
    finished.sort(key=lambda c: (*_order((c.group, c.key)), c.cfg.seed))
    if not finished:
        print(f"no finished cell in the RandomMaze groups under {cells_root}: the tables have headers only")
    paths = {
        "cells": out / "randommaze-repro.csv",
        "iqm": out / "randommaze-repro-iqm.csv",
        "tests": out / "randommaze-repro-tests.csv",
        "cells_md": out / "randommaze-repro-cells.md",
    }
    rows = cell_rows(finished)
    write(paths["cells"], rows, CELL_COLUMNS)
    paths["cells_md"].write_text(cells_markdown(finished))
    table = iqm_table(finished)
    write(paths["iqm"], table, IQM_COLUMNS)
    pick = memory_pick(finished)
    comps = comparisons(finished, pick)
    every_test = all_tests(finished, comps)
    tests = with_both_sides(every_test)
    write(paths["tests"], tests, TEST_COLUMNS)
    figures = {
        group: figure([c for c in finished if c.group == group], group, out, f"{group}: {what}")
        for group, (what, _, _) in GROUPS.items()
    }
    members = [(c.family, c.title) for c in comps]
    if not any(c.family == MEMORY_FAMILY for c in comps):
        members.insert(2, (MEMORY_FAMILY, "no pick yet (no agent of a side with n >= 5 at 2M)"))
    return {
        "paths": paths,
        "figures": figures,
        "rows": rows,
        "iqm": table,
        "tests": tests,
        "pick": pick,
        "comparisons": comps,
        "families": family_lines(FAMILIES, members, every_test, _final_training, "the final step"),
        "verdicts": verdict_lines(finished, comps, every_test, pick, sweeps),
    }


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__, CELLS, RESULTS)
    ap.add_argument(
        "--sweeps",
        type=Path,
        default=SWEEPS,
        help=f"the groups' specs, for the seeds each plans (default {SWEEPS})",
    )
    args = ap.parse_args(argv)
    report = build_report(args.cells, args.out, args.sweeps)
    print("\ngroups (finished cells):")
    for group, (what, _, _) in GROUPS.items():
        print(f"  {group:24s} {sum(r['group'] == group for r in report['rows'])}  {what}")
    print(
        "\nthe return at 500k / 1M / 2M steps (the screen: 500k) and the final policy's evaluations:"
        " IQM [95% CI] from 4 runs on; with 2 or 3 runs the mean and the runs' range, no CI:"
    )
    for r in report["iqm"]:
        what = "IQM" if r["ci_low"] != "" else "mean" if r["runs"] > 1 else "    "
        print(
            f"  {r['group']:24s} {r['agent']:20s} {step_label(r['step']):>4s} {r['measure']:12s} "
            f"n={r['runs']} {what} {r['iqm']:.3f} {r['ci']:18s} ({r['returns']})"
        )
    print("\nfamilies of Holm's adjustment (the tests of one claim, adjusted together per step and measure):")
    for line in report["families"]:
        print(f"  {line}")
    print(f"\nmemory-needed pick: {report['pick'].text}")
    print(
        "\nverdicts on the return (one-sided Mann-Whitney rank-sum test at the final step, exact"
        f" permutation p < {ALPHA} after Holm's adjustment; n >= {CONFIRM_N} on both sides to confirm):"
    )
    for line in report["verdicts"]["training"]:
        print(f"  {line}")
    for measure in MEASURES[1:]:
        print(f"\nverdicts on {MEASURE_TEXT[measure]} ({measure}, at the final step):")
        for line in report["verdicts"][measure]:
            print(f"  {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
