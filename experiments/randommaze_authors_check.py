"""helmrl's RandomMaze-v0 against the authors' env, side by side in one process.

The authors' env (``envs/random_maze.py`` of ml-jku/helm) runs on mazelab and gym, neither of which
helmrl ships, so this script imports them from checkouts you point it at:

    git clone https://github.com/ml-jku/helm /tmp/helm
    git clone https://github.com/zuoxingdong/mazelab /tmp/mazelab
    .venv/bin/python experiments/randommaze_authors_check.py --helm /tmp/helm --mazelab /tmp/mazelab

(gym 0.26, which the Makefile installs for Procgen, runs their code; mazelab's other generators
need scikit-image, which is stubbed out here since RandomMaze does not use them.)

It prints three things:

1. over ``--resets`` resets of the authors' env: where their goal lands (on a wall? the inner
   bottom-right cell?) and how often the start is the goal's cell;
2. the mazes' distribution, theirs against helmrl's over as many resets each: the mean share of
   wall cells and the mean number of free cells, with their standard errors (the generators
   draw the same distribution from different random streams);
3. over ``--episodes`` episodes: each of their mazes and starts copied into helmrl's env, the
   same random actions played in both, and every observation, reward and episode end compared.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import types
from pathlib import Path

import numpy as np

from helmrl.envs.random_maze import RandomMazeEnv


def load_authors_env(helm: Path, mazelab: Path) -> types.ModuleType:
    """The authors' ``envs/random_maze.py`` as a module, over the mazelab checkout."""
    stub = types.ModuleType("skimage.draw")
    stub.random_shapes = stub.rectangle = stub.circle = stub.disk = lambda *a, **k: None
    sys.modules.setdefault("skimage", types.ModuleType("skimage")).draw = stub
    sys.modules.setdefault("skimage.draw", stub)
    sys.path.insert(0, str(mazelab))
    spec = importlib.util.spec_from_file_location("authors_random_maze", helm / "envs" / "random_maze.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--helm", type=Path, required=True, help="a checkout of ml-jku/helm")
    parser.add_argument("--mazelab", type=Path, required=True, help="a checkout of zuoxingdong/mazelab")
    parser.add_argument("--resets", type=int, default=10_000, help="resets for the goal and start counts")
    parser.add_argument("--episodes", type=int, default=2_000, help="episodes played in both envs")
    parser.add_argument("--seed", type=int, default=0, help="numpy's global seed (the authors' envs use it)")
    args = parser.parse_args()
    for path in (args.helm / "envs" / "random_maze.py", args.mazelab / "mazelab"):
        if not path.exists():
            parser.error(f"{path} not found")

    authors = load_authors_env(args.helm, args.mazelab)
    np.random.seed(args.seed)
    theirs = authors.Env()
    view = theirs.agent_view_size

    on_wall = inner = start_on_goal = even_side = 0
    their_walls, their_free = [], []
    for _ in range(args.resets):
        theirs.reset()
        padded = theirs.maze.x
        inside = padded[view:-view, view:-view]
        their_walls.append(inside.mean())
        their_free.append(int((inside == 0).sum()))
        goal = tuple(theirs.maze.objects.goal.positions[0])
        h = padded.shape[0] - 2 * view
        on_wall += padded[goal] == 1
        inner += goal == (view + h - 2, view + h - 2)
        start_on_goal += tuple(theirs.maze.objects.agent.positions[0]) == goal
        even_side += theirs.goal_idx[0][0] != goal[0]  # their unused goal_idx: the drawn side's s − 2
    n = args.resets
    print(
        f"authors' env, {n} resets: goal on a wall {on_wall / n:.4f}; goal on the inner bottom-right "
        f"cell {inner / n:.4f}; start on the goal's cell {start_on_goal / n:.4f}; their unused goal_idx "
        f"differs from the goal {even_side / n:.4f} (the even sides)"
    )

    ours = RandomMazeEnv()
    ours.reset(seed=args.seed)
    our_walls, our_free = [], []
    for _ in range(args.resets):
        ours.reset()
        our_walls.append(ours.grid.mean())
        our_free.append(int((ours.grid == 0).sum()))
    for name, a, b in (("wall share", their_walls, our_walls), ("free cells", their_free, our_free)):
        se = np.hypot(np.std(a) / np.sqrt(len(a)), np.std(b) / np.sqrt(len(b)))
        print(
            f"mazes, {name}: authors' {np.mean(a):.4f}, helmrl's {np.mean(b):.4f}, "
            f"difference {np.mean(b) - np.mean(a):+.4f} "
            f"({(np.mean(b) - np.mean(a)) / se:+.1f} standard errors)"
        )
    actions = np.random.default_rng(args.seed + 1)
    steps = mismatches = 0
    for _ in range(args.episodes):
        obs_theirs = theirs.reset()
        ours.grid = theirs.maze.x[view:-view, view:-view].astype(np.int8)
        ours.side = ours.grid.shape[0]
        ours.goal = np.asarray(theirs.maze.objects.goal.positions[0]) - view
        ours.agent = np.asarray(theirs.maze.objects.agent.positions[0]) - view
        ours.steps = 0
        mismatches += not np.array_equal(obs_theirs, ours._obs())
        for t in range(ours.max_steps):
            a = int(actions.integers(4))
            obs_theirs, r_theirs, done, _ = theirs.step(a)
            obs_ours, r_ours, terminated, truncated, _ = ours.step(a)
            steps += 1
            time_limit = t == ours.max_steps - 1  # gym's TimeLimit(100) around theirs
            same = (
                np.array_equal(obs_theirs, obs_ours)
                and r_theirs == r_ours
                and done == terminated
                and (done or time_limit) == (terminated or truncated)
            )
            if not same:
                mismatches += 1
                break
            if done:
                break
    print(f"side by side: {args.episodes} episodes, {steps} steps, {mismatches} mismatches")
    sys.exit(1 if mismatches else 0)


if __name__ == "__main__":
    main()
