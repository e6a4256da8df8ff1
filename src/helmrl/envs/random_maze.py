"""RandomMaze-v0: the paper's procedurally generated maze (re-implemented; the authors' version
depends on a git-only package).

Each reset draws a side length uniformly from 5..25 and builds a maze with the classic
random-maze algorithm (complexity 0.75, density 0.75): walls grow from even coordinates, free
cells lie on odd ones, so the grid is odd-sized ((side // 2) * 2 + 1) and its free space is
connected. The goal is the bottom-right inner cell; the agent starts on a random free cell.

Observation: a 9×9×3 RGB crop centred on the agent (view radius 4; outside the maze is wall).
Actions: 0 up, 1 down, 2 left, 3 right. Reward: +1 at the goal (terminates), −1 for bumping a
wall (the agent stays; no step penalty then), −0.01 otherwise. 100 steps at most (truncation).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from .families import EnvFamily, register_family

FREE, WALL = 0, 1
COLORS = {
    "free": (0, 0, 0),
    "wall": (255, 255, 255),
    "goal": (0, 255, 0),
    "agent": (255, 0, 0),
}
MOVES = np.array([(-1, 0), (1, 0), (0, -1), (0, 1)])  # up, down, left, right as (row, col)


def random_maze(
    side: int, rng: np.random.Generator, complexity: float = 0.75, density: float = 0.75
) -> np.ndarray:
    """The classic random-maze algorithm: (H, W) array, 1 = wall, with an odd shape."""
    shape = ((side // 2) * 2 + 1, (side // 2) * 2 + 1)
    n_complexity = int(complexity * (5 * (shape[0] + shape[1])))
    n_density = int(density * ((shape[0] // 2) * (shape[1] // 2)))
    grid = np.zeros(shape, dtype=np.int8)
    grid[0, :] = grid[-1, :] = WALL
    grid[:, 0] = grid[:, -1] = WALL
    for _ in range(n_density):
        x, y = int(rng.integers(0, shape[1] // 2 + 1)) * 2, int(rng.integers(0, shape[0] // 2 + 1)) * 2
        grid[y, x] = WALL
        for _ in range(n_complexity):
            neighbours = []
            if x > 1:
                neighbours.append((y, x - 2))
            if x < shape[1] - 2:
                neighbours.append((y, x + 2))
            if y > 1:
                neighbours.append((y - 2, x))
            if y < shape[0] - 2:
                neighbours.append((y + 2, x))
            if neighbours:
                y2, x2 = neighbours[int(rng.integers(0, len(neighbours)))]
                if grid[y2, x2] == FREE:
                    grid[y2, x2] = WALL
                    grid[y2 + (y - y2) // 2, x2 + (x - x2) // 2] = WALL
                    x, y = x2, y2
    return grid


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
        free = np.argwhere(self.grid == FREE)
        free = free[(free != self.goal).any(axis=1)]
        self.agent = free[int(self.np_random.integers(len(free)))].copy()
        self.steps = 0
        return self._obs(), {"side": self.side}

    def step(self, action: int):
        target = self.agent + MOVES[int(action)]
        self.steps += 1
        if self.grid[target[0], target[1]] == WALL:
            reward, terminated = -1.0, False
        else:
            self.agent = target
            terminated = bool((self.agent == self.goal).all())
            reward = 1.0 if terminated else -0.01
        truncated = not terminated and self.steps >= self.max_steps
        return self._obs(), reward, terminated, truncated, {"side": self.side}

    def _rgb(self, grid: np.ndarray) -> np.ndarray:
        img = np.empty((*grid.shape, 3), dtype=np.uint8)
        img[grid == FREE] = COLORS["free"]
        img[grid == WALL] = COLORS["wall"]
        return img

    def _obs(self) -> np.ndarray:
        r = self.radius
        padded = np.pad(self.grid, r, constant_values=WALL)
        gy, gx = self.goal + r
        img = self._rgb(padded)
        img[gy, gx] = COLORS["goal"]
        y, x = self.agent + r
        crop = img[y - r : y + r + 1, x - r : x + r + 1].copy()
        crop[r, r] = COLORS["agent"]
        return crop

    def render(self) -> np.ndarray:
        """The whole maze, 8 px per cell, for videos."""
        img = self._rgb(self.grid)
        img[tuple(self.goal)] = COLORS["goal"]
        img[tuple(self.agent)] = COLORS["agent"]
        return np.kron(img, np.ones((8, 8, 1), dtype=np.uint8))


if "RandomMaze-v0" not in gym.registry:
    gym.register("RandomMaze-v0", entry_point="helmrl.envs.random_maze:RandomMazeEnv")
RANDOM_MAZE = register_family(
    EnvFamily(
        name="randommaze",
        prefixes=("RandomMaze",),
        description="the paper's RandomMaze: side 5..25, goal bottom-right, 9x9x3 crop",
        reward_norm=False,
    )
)
