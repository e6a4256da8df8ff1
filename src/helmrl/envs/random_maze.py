"""RandomMaze-v0: the paper's procedurally generated maze, rule for rule as the authors' env
(``envs/random_maze.py`` in ml-jku/helm, on mazelab's ``random_maze`` and ``DeepMindColor``),
re-implemented because mazelab is a git-only package on the old gym API.

The rules, each pinned by ``tests/test_envs.py``:

- **Size.** Each reset draws a side s uniformly from 5..25 and builds a maze with the classic
  random-maze algorithm (complexity 0.75, density 0.75): walls grow from even coordinates, so
  the grid is odd-sized, ``(s // 2) * 2 + 1``, every odd/odd cell is free and the free space is
  connected.
- **Goal.** The inner bottom-right cell ``(h − 2, w − 2)`` of that odd grid, on every reset. The
  authors' ``reset`` places it from the wall-padded maze's size (side + 2·view − 2 − view), which
  lands on the odd/odd cell for every side. (Their ``_sample_env`` also computes a ``goal_idx``
  from the drawn side s, which would be a wall pillar for even s; nothing reads it.)
- **Start.** Uniform over every free cell, the goal's included (about 1% of resets). An agent
  that starts on the goal is not rewarded until it steps off and back on; the goal's colour is
  drawn over the agent's there, as mazelab draws its objects in the order free, wall, agent, goal.
- **Step.** Actions 0 north, 1 south, 2 west, 3 east (mazelab's ``VonNeumannMotion``). The goal
  is checked on the target cell before the move's validity: +1 and termination there; −1 for a
  wall bump (the agent stays); −0.01 otherwise. Since the goal is always free, the order
  changes no outcome. Truncation after 100 steps (the authors' ``max_episode_steps``).
- **Observation.** A 9×9×3 crop centred on the agent (view radius 4) of the maze padded with
  wall, in mazelab's DeepMind palette: free (224, 224, 224), wall (160, 160, 160), agent
  (51, 153, 255), goal (51, 255, 51).
- **Random numbers.** Each env draws from its own generator (gymnasium's ``np_random``, seeded
  by ``reset(seed=...)``), where the authors' envs share numpy's global one: the same
  distributions, not the same draws.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from .families import EnvFamily, register_family

FREE, WALL = 0, 1
#: mazelab's DeepMindColor
COLORS = {
    "free": (224, 224, 224),
    "wall": (160, 160, 160),
    "agent": (51, 153, 255),
    "goal": (51, 255, 51),
}
MOVES = np.array([(-1, 0), (1, 0), (0, -1), (0, 1)])  # north, south, west, east as (row, col)


def random_maze(
    side: int, rng: np.random.Generator, complexity: float = 0.75, density: float = 0.75
) -> np.ndarray:
    """The classic random-maze algorithm (mazelab's ``random_maze``): (H, W) int8 array, 1 = wall,
    of odd shape ``(side // 2) * 2 + 1``.

    Each choice among k options is ``int(u * k)`` of a uniform u drawn in one batch up front,
    the same distribution as mazelab's ``np.random.randint(0, k)`` per choice; drawing them
    one by one made maze generation most of a memoryless agent's time on RandomMaze."""
    h = w = (side // 2) * 2 + 1
    n_complexity = int(complexity * (5 * (h + w)))
    n_density = int(density * ((h // 2) * (w // 2)))
    grid = [[WALL] * w] + [[WALL] + [FREE] * (w - 2) + [WALL] for _ in range(h - 2)] + [[WALL] * w]
    uniforms = iter(rng.random(n_density * (n_complexity + 2)).tolist())
    for _ in range(n_density):
        x, y = int(next(uniforms) * (w // 2 + 1)) * 2, int(next(uniforms) * (h // 2 + 1)) * 2
        grid[y][x] = WALL
        for _ in range(n_complexity):
            neighbours = []
            if x > 1:
                neighbours.append((y, x - 2))
            if x < w - 2:
                neighbours.append((y, x + 2))
            if y > 1:
                neighbours.append((y - 2, x))
            if y < h - 2:
                neighbours.append((y + 2, x))
            y2, x2 = neighbours[int(next(uniforms) * len(neighbours))]
            if grid[y2][x2] == FREE:
                grid[y2][x2] = WALL
                grid[y2 + (y - y2) // 2][x2 + (x - x2) // 2] = WALL
                x, y = x2, y2
    return np.array(grid, dtype=np.int8)


class RandomMazeEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(
        self,
        min_side: int = 5,
        max_side: int = 25,
        view_radius: int = 4,
        max_steps: int = 100,
        render_mode: str | None = None,
    ):
        if not 5 <= min_side <= max_side:
            raise ValueError(f"need 5 <= min_side <= max_side, got {min_side}, {max_side}")
        self.min_side, self.max_side, self.radius, self.max_steps = min_side, max_side, view_radius, max_steps
        self.render_mode = render_mode
        size = 2 * view_radius + 1
        self.observation_space = gym.spaces.Box(0, 255, shape=(size, size, 3), dtype=np.uint8)
        self.action_space = gym.spaces.Discrete(4)
        self.grid = np.ones((1, 1), dtype=np.int8)
        self.side = 0
        self.goal = self.agent = np.zeros(2, dtype=np.int64)
        self.steps = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.side = int(self.np_random.integers(self.min_side, self.max_side + 1))
        self.grid = random_maze(self.side, self.np_random)
        h, w = self.grid.shape
        self.goal = np.array([h - 2, w - 2])
        free = np.argwhere(self.grid == FREE)  # the goal's cell included, as the authors'
        self.agent = free[int(self.np_random.integers(len(free)))].copy()
        self.steps = 0
        return self._obs(), {"side": self.side}

    def step(self, action: int):
        target = self.agent + MOVES[int(action)]
        self.steps += 1
        valid = self.grid[target[0], target[1]] == FREE
        if valid:
            self.agent = target
        terminated = bool((target == self.goal).all())  # the goal before validity, as the authors'
        reward = 1.0 if terminated else -0.01 if valid else -1.0
        truncated = not terminated and self.steps >= self.max_steps
        return self._obs(), reward, terminated, truncated, {"side": self.side}

    def _draw(self, grid: np.ndarray, offset: int = 0) -> np.ndarray:
        """mazelab's ``to_rgb``: free, wall, agent, then goal, each over the ones before."""
        img = np.empty((*grid.shape, 3), dtype=np.uint8)
        img[grid == FREE] = COLORS["free"]
        img[grid == WALL] = COLORS["wall"]
        img[tuple(self.agent + offset)] = COLORS["agent"]
        img[tuple(self.goal + offset)] = COLORS["goal"]
        return img

    def _obs(self) -> np.ndarray:
        r = self.radius
        img = self._draw(np.pad(self.grid, r, constant_values=WALL), offset=r)
        y, x = self.agent + r
        return img[y - r : y + r + 1, x - r : x + r + 1].copy()

    def render(self) -> np.ndarray:
        """The whole maze, 8 px per cell, for videos."""
        img = self._draw(self.grid)
        return np.kron(img, np.ones((8, 8, 1), dtype=np.uint8))


if "RandomMaze-v0" not in gym.registry:
    gym.register("RandomMaze-v0", entry_point="helmrl.envs.random_maze:RandomMazeEnv")
RANDOM_MAZE = register_family(
    EnvFamily(
        name="randommaze",
        prefixes=("RandomMaze",),
        description="the paper's RandomMaze (the authors' rules): side 5..25, goal bottom-right, 9x9x3 crop",
        reward_norm=False,
    )
)
