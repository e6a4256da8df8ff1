"""``helmrl sweep``'s command: list a spec's cells as commands, run one cell or a seed group of
them here, run them all on Ray, or summarise the finished ones. The CLI parses the arguments and
calls ``run_sweep_command``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from ..errors import UsageError


def run_sweep_command(args: argparse.Namespace) -> int:
    """``helmrl sweep SPEC``: list, run (one cell, a seed group, or all on Ray) or summarise its cells."""
    from . import SpecError, SweepSpec, format_summary, run_sweep, summary_row, write_summary
    from .runner import cell_groups, is_done

    try:
        spec = SweepSpec.load(args.spec)
    except SpecError as err:
        msg = str(err)
        raise UsageError(msg if msg.startswith(str(args.spec)) else f"{args.spec}: {msg}") from None
    if sum(map(bool, (args.list, args.cell, args.summary))) > 1:
        raise UsageError("--list, --cell and --summary each do one thing: give one of them")
    if args.cpus_per_run <= 0:
        raise UsageError(f"--cpus-per-run {args.cpus_per_run}: must be a positive number of CPUs")
    out = args.out or Path("sweeps") / spec.name
    if args.list:
        todo = [c for c in spec.cells() if not is_done(out / c.name, c.config)]
        groups = cell_groups(todo, args.cpus_per_run) if args.batch_seeds else [[c] for c in todo]
        for group in groups:
            batch = " --batch-seeds" if len(group) > 1 else ""
            print(
                f"helmrl sweep {shlex.quote(str(args.spec))} --out {shlex.quote(str(out))} "
                f"--cpus-per-run {args.cpus_per_run}{batch} --cell {','.join(c.name for c in group)}"
            )
        return 0
    if not args.summary and not args.allow_dirty:
        from .runner import source_commit

        commit = source_commit()
        if commit.endswith("+dirty"):
            raise UsageError(
                f"helmrl's source has uncommitted changes ({commit}): a cell starts only from a "
                "committed tree; commit them, or pass --allow-dirty for a trial run"
            )
    if args.cell:
        names = args.cell.split(",")
        if len(names) > 1:
            if not args.batch_seeds:
                raise UsageError(f"--cell {args.cell}: several cells train together only with --batch-seeds")
            return _run_cell_group(spec, out, names, args.cpus_per_run)
        return _run_one_cell(spec, out, args.cell, args.cpus_per_run)
    if args.summary:
        rows = [summary_row(out / c.name) for c in spec.cells() if is_done(out / c.name, c.config)]
    else:
        if args.batch_seeds:  # the groups here, one after another; then the other cells on Ray
            todo = [c for c in spec.cells() if not is_done(out / c.name, c.config)]
            for group in cell_groups(todo, args.cpus_per_run):
                if len(group) > 1:
                    _run_cell_group(spec, out, [c.name for c in group], args.cpus_per_run)
        rows = run_sweep(spec, out, address=args.address, cpus_per_run=args.cpus_per_run)
    if not rows:
        raise UsageError(f"{out}: no finished cell to summarise yet")
    print(format_summary(write_summary(rows, out)))
    print(f"  table: {out / 'summary.csv'} ({len(rows)} of {len(spec.cells())} cells finished)")
    return 0 if len(rows) == len(spec.cells()) else 1


def _run_cell_group(spec, out: Path, names: list[str], cpus: int) -> int:
    """``--batch-seeds --cell A,B,...``: those cells as one seed group sharing the LM."""
    from ..seed_group import check_group
    from .runner import cell_config, run_cell_group

    cells = {c.name: c for c in spec.cells()}
    unknown = [n for n in names if n not in cells]
    if unknown:
        raise UsageError(f"--cell {unknown[0]}: not a cell of {spec.name}; `--list` prints them")
    if len(set(names)) != len(names):
        raise UsageError(f"--cell {','.join(names)}: a cell is named twice")
    cfgs = [cell_config(cells[n], cpus) for n in names]
    check_group(cfgs)
    if len({c.total_steps for c in cfgs}) > 1:
        raise UsageError(f"--cell {','.join(names)}: a group's cells train for the same steps")
    try:
        rows = run_cell_group([c.to_dict() for c in cfgs], [str(out / n) for n in names], spec.eval_episodes)
    except KeyboardInterrupt:
        print(
            f"helmrl sweep: cell group {','.join(names)} interrupted; run the same command to resume",
            file=sys.stderr,
        )
        return 130
    for row in rows:
        print(
            f"{Path(row['run_dir']).name}: {row['steps']} steps, final return {row['final_return']}, "
            f"evaluation {row['eval_sampled']} sampled / {row['eval_greedy']} greedy"
        )
    return 0


def _run_one_cell(spec, out: Path, name: str, cpus: int) -> int:
    from . import run_cell
    from .runner import cell_config

    cells = {c.name: c for c in spec.cells()}
    if name not in cells:
        raise UsageError(f"--cell {name}: not a cell of {spec.name}; `--list` prints them")
    try:
        row = run_cell(cell_config(cells[name], cpus).to_dict(), str(out / name), spec.eval_episodes)
    except KeyboardInterrupt as err:  # SIGTERM / Ctrl-C; the runner's own carries the cell's name
        from ..ppo.checkpoint import CHECKPOINT

        if err.args:  # the trainer finished its update and saved
            state = "its checkpoint is saved, run the same command to resume"
        elif (out / name / CHECKPOINT).exists():  # a second Ctrl-C: stopped mid-update
            state = "its last checkpoint is kept, run the same command to resume from it"
        else:
            state = "no checkpoint yet, run the same command to start it again"
        print(f"helmrl sweep: cell {name} interrupted; {state}", file=sys.stderr)
        return 130
    print(
        f"{name}: {row['steps']} steps, final return {row['final_return']} (last 100 training episodes), "
        f"evaluation {row['eval_sampled']} sampled / {row['eval_greedy']} greedy, {row['fps']} env-steps/s"
    )
    return 0
