from collections import deque

import gymnasium as gym
import numpy as np
import pytest

import helmrl  # noqa: F401 - registers the envs
from helmrl.envs import EnvError, check_env_id, default_reward_norm, make_env, make_vec_env
from helmrl.envs.procgen import MEMORY_GAMES
from helmrl.envs.random_maze import COLORS, FREE, WALL, RandomMazeEnv


def _reachable(grid: np.ndarray, start: tuple[int, int]) -> set[tuple[int, int]]:
    seen, todo = {start}, deque([start])
    while todo:
        y, x = todo.popleft()
        for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            n = (y + dy, x + dx)
            if grid[n] == FREE and n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def test_goal_reachable_from_every_free_cell_and_sizes_are_odd():
    env = RandomMazeEnv()
    for seed in range(60):
        env.reset(seed=seed)
        grid = env.grid
        assert grid.shape[0] % 2 == 1 and grid.shape == ((env.side // 2) * 2 + 1,) * 2
        assert (grid[0] == WALL).all() and (grid[:, -1] == WALL).all()
        goal = tuple(env.goal)
        assert goal == (grid.shape[0] - 2, grid.shape[1] - 2) and grid[goal] == FREE
        free = {tuple(c) for c in np.argwhere(grid == FREE)}
        assert _reachable(grid, goal) == free  # one connected component holding the goal


@pytest.mark.slow
def test_every_side_length_from_5_to_25_occurs():
    env = RandomMazeEnv()
    sides = {env.reset(seed=s)[1]["side"] for s in range(600)}
    assert sides == set(range(5, 26))


def test_crop_matches_the_maze_and_pads_with_wall():
    env = RandomMazeEnv()
    obs, _ = env.reset(seed=3)
    r = env.radius
    y0, x0 = env.agent
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            y, x = y0 + dy, x0 + dx
            pixel = tuple(obs[dy + r, dx + r])
            if (dy, dx) == (0, 0) and (y, x) != tuple(env.goal):
                assert pixel == COLORS["agent"]
            elif not (0 <= y < env.grid.shape[0] and 0 <= x < env.grid.shape[1]):
                assert pixel == COLORS["wall"]
            elif (y, x) == tuple(env.goal):
                assert pixel == COLORS["goal"]
            else:
                assert pixel == COLORS["wall" if env.grid[y, x] == WALL else "free"]


def test_palette_is_mazelabs_deepmind_colours():
    # What FrozenHopfield sees is the channel mean of these: 224 free, 160 wall, ~153 agent, ~186 goal.
    assert COLORS == {
        "free": (224, 224, 224),
        "wall": (160, 160, 160),
        "agent": (51, 153, 255),
        "goal": (51, 255, 51),
    }
    env = RandomMazeEnv()
    obs, _ = env.reset(seed=0)
    colours = {tuple(p) for p in obs.reshape(-1, 3)}
    assert colours <= set(COLORS.values()) and COLORS["wall"] in colours


def test_start_is_any_free_cell_goal_included_and_goal_is_drawn_over_the_agent():
    env = RandomMazeEnv(min_side=5, max_side=5)  # few free cells: the goal is drawn often
    on_goal = 0
    for seed in range(400):
        obs, _ = env.reset(seed=seed)
        assert env.grid[tuple(env.agent)] == FREE
        if (env.agent == env.goal).all():
            on_goal += 1
            r = env.radius
            assert tuple(obs[r, r]) == COLORS["goal"]  # mazelab draws the goal after the agent
            # Standing on the goal pays nothing; stepping off and back on pays +1.
            for away, back in ((0, 1), (2, 3)):  # north then south, or west then east
                target = env.goal + np.array([(-1, 0), (0, -1)][away // 2])
                if env.grid[tuple(target)] == FREE:
                    _, r1, term1, _, _ = env.step(away)
                    _, r2, term2, _, _ = env.step(back)
                    assert (r1, term1) == (pytest.approx(-0.01), False) and (r2, term2) == (1.0, True)
                    break
    free_cells = len(np.argwhere(env.grid == FREE))
    assert on_goal > 400 / free_cells / 3  # about 1 in free_cells resets, not never


def test_goal_is_checked_before_the_moves_validity():
    # The goal is always free in RandomMaze-v0, so the order shows only where a goal is put on a
    # wall: bumping into it ends the episode with +1, and the agent does not move.
    env = RandomMazeEnv()
    env.reset(seed=7)
    y, x = env.agent
    wall_neighbours = [
        a for a, (dy, dx) in enumerate(((-1, 0), (1, 0), (0, -1), (0, 1))) if env.grid[y + dy, x + dx] == WALL
    ]
    assert wall_neighbours
    a = wall_neighbours[0]
    env.goal = env.agent + np.array([(-1, 0), (1, 0), (0, -1), (0, 1)][a])
    _, reward, term, trunc, _ = env.step(a)
    assert (reward, term, trunc) == (1.0, True, False) and (env.agent == (y, x)).all()


def test_actions_are_north_south_west_east():
    env = RandomMazeEnv()
    for seed in range(50):
        env.reset(seed=seed)
        for a, delta in enumerate(((-1, 0), (1, 0), (0, -1), (0, 1))):
            before = env.agent.copy()
            target = before + np.array(delta)
            if env.grid[tuple(target)] == FREE and not (target == env.goal).all():
                env.step(a)
                assert (env.agent == target).all()
                return
    raise AssertionError("no free move found")


def test_wall_bump_costs_one_and_agent_stays_other_steps_cost_a_hundredth():
    env = RandomMazeEnv()
    env.reset(seed=5)
    moves = {0: (-1, 0), 1: (1, 0), 2: (0, -1), 3: (0, 1)}
    bumped = moved = False
    for _ in range(200):
        for a, (dy, dx) in moves.items():
            before = env.agent.copy()
            target = (before[0] + dy, before[1] + dx)
            _, r, term, trunc, _ = env.step(a)
            if env.grid[target] == WALL:
                assert r == -1.0 and (env.agent == before).all()
                bumped = True
            elif not term:
                assert r == pytest.approx(-0.01) and tuple(env.agent) == target
                moved = True
            if term or trunc:
                env.reset()
    assert bumped and moved


def test_episode_ends_at_goal_or_is_truncated_after_100_steps():
    env = RandomMazeEnv()
    env.reset(seed=1)
    for t in range(1, 101):
        _, _, term, trunc, _ = env.step(0 if t % 2 else 2)
        if term:
            break
        assert trunc == (t == 100)
    # Walk to the goal along a shortest path: +1 and termination.
    env.reset(seed=2)
    path = _shortest_path(env.grid, tuple(env.agent), tuple(env.goal))
    for (y, x), (y2, x2) in zip(path, path[1:], strict=False):
        a = {(-1, 0): 0, (1, 0): 1, (0, -1): 2, (0, 1): 3}[(y2 - y, x2 - x)]
        _, r, term, trunc, _ = env.step(a)
    assert r == 1.0 and term and not trunc


def _shortest_path(grid, start, goal):
    prev, todo = {start: None}, deque([start])
    while todo:
        cur = todo.popleft()
        for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            n = (cur[0] + dy, cur[1] + dx)
            if grid[n] == FREE and n not in prev:
                prev[n] = cur
                todo.append(n)
    path, node = [], goal
    while node is not None:
        path.append(node)
        node = prev[node]
    return path[::-1]


def test_seed_reproduces_maze_and_start():
    a, b = RandomMazeEnv(), RandomMazeEnv()
    oa, _ = a.reset(seed=42)
    ob, _ = b.reset(seed=42)
    assert np.array_equal(a.grid, b.grid) and np.array_equal(a.agent, b.agent) and np.array_equal(oa, ob)
    b.reset(seed=43)
    assert not (np.array_equal(a.grid, b.grid) and np.array_equal(a.agent, b.agent))


def test_render_is_the_whole_maze():
    env = gym.make("RandomMaze-v0", render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (env.unwrapped.grid.shape[0] * 8, env.unwrapped.grid.shape[1] * 8, 3)


@pytest.mark.parametrize("game", MEMORY_GAMES)
def test_procgen_memory_games_reset_and_step(game):
    envs = make_vec_env(f"ProcgenMemory-{game.capitalize()}-v0", 2)
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (2, 64, 64, 3) and obs.dtype == np.uint8
    assert envs.single_action_space.n == 15
    for _ in range(5):
        obs, rew, term, trunc, _ = envs.step(envs.action_space.sample())
    assert obs.shape == (2, 64, 64, 3) and rew.shape == (2,)
    envs.close()


def test_unknown_id_names_the_closest_known_ids():
    with pytest.raises(EnvError) as err:
        check_env_id("RandomMaz-v0")
    msg = str(err.value)
    assert "RandomMaze-v0" in msg and "\n" not in msg
    with pytest.raises(EnvError, match="ProcgenMemory-Heist-v0"):
        check_env_id("ProcgenMemory-Heists-v0")


def _space_env(space: gym.Space):
    class SpaceEnv(gym.Env):
        observation_space = space
        action_space = gym.spaces.Discrete(2)

        def __init__(self, render_mode=None):
            self.render_mode = render_mode

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return self.observation_space.sample(), {}

        def step(self, action):
            return self.observation_space.sample(), 0.0, False, False, {}

    return SpaceEnv


def test_discrete_and_dict_observations_follow_sb3():
    gym.register("HelmrlTestDiscrete-v0", entry_point=_space_env(gym.spaces.Discrete(5)))
    env = make_env("HelmrlTestDiscrete-v0")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (5,) and obs.sum() == 1 and set(np.unique(obs)) <= {0, 1}  # one-hot
    dict_space = gym.spaces.Dict({"pos": gym.spaces.Box(-1, 1, (2,)), "key": gym.spaces.Discrete(3)})
    gym.register("HelmrlTestDict-v0", entry_point=_space_env(dict_space))
    obs, _ = make_env("HelmrlTestDict-v0").reset(seed=0)
    assert obs.shape == (5,)  # 3 one-hot + 2 box, flattened in key order


def test_unsupported_spaces_are_refused_clearly():
    image_dict = gym.spaces.Dict(
        {"image": gym.spaces.Box(0, 255, (8, 8, 3), np.uint8), "dir": gym.spaces.Discrete(4)}
    )
    gym.register("HelmrlTestImageDict-v0", entry_point=_space_env(image_dict))
    with pytest.raises(EnvError, match="FilterObservation") as err:
        make_env("HelmrlTestImageDict-v0")
    assert "'image'" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(EnvError, match="Discrete actions"):
        make_env("Pendulum-v1")


def test_module_prefixed_ids_import_the_module_first(tmp_path, monkeypatch):
    (tmp_path / "helmrl_plugin_envs.py").write_text(
        "import gymnasium as gym\n"
        "gym.register('PluginCorridor-v0', entry_point='gymnasium.envs.classic_control:CartPoleEnv')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "PluginCorridor-v0" not in gym.registry
    envs = make_vec_env("helmrl_plugin_envs:PluginCorridor-v0", 2)
    assert envs.reset(seed=0)[0].shape == (2, 4)
    with pytest.raises(EnvError, match="cannot import module 'no_such_pkg'"):
        check_env_id("no_such_pkg:Thing-v0")


def test_reward_normalisation_defaults_per_family():
    assert default_reward_norm("MiniGrid-KeyCorridorS3R1-v0")
    assert default_reward_norm("ProcgenMemory-Maze-v0")
    assert not default_reward_norm("RandomMaze-v0")
    assert not default_reward_norm("CartPole-v1")


def test_cue_recall_needs_the_observation_delay_steps_back():
    env = make_env("CueRecall-v0")
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        assert obs[:3].sum() == 0  # the first step is never the cue (no attention-sink shortcut)
        history, done, t = [obs], False, 0
        while not done:
            question = history[-1][2] == 1.0
            cue = int(np.argmax(history[-1 - 4][:2])) if question else 0
            obs, reward, done, trunc, _ = env.step(cue)
            history.append(obs)
            t += 1
            assert question == done
        assert reward == 1.0 and history[-1 - 4 - 1][:2].sum() == 1  # answering the cue 4 back wins
        assert 5 <= t <= 11
    rewards = []
    for seed in range(200):
        env.reset(seed=seed)
        done = False
        while not done:
            _, reward, done, *_ = env.step(0)  # a memoryless answer
        rewards.append(reward)
    assert 0.35 < np.mean(rewards) < 0.65


def test_reward_scaler_saves_its_statistic_only_and_a_loaded_one_scales_as_the_original():
    """A resumed run starts fresh episodes, which zero the running returns: the checkpoint holds
    the return statistic, and an older checkpoint's saved returns are ignored."""
    from helmrl.envs import ScaleReward

    a = ScaleReward(make_vec_env("CartPole-v1", 2), gamma=0.99)
    a.reset(seed=0)
    a.action_space.seed(0)
    for _ in range(30):
        a.step(a.action_space.sample())
    state = a.state_dict()
    assert set(state) == {"mean", "var", "count"} and state["count"] > 30
    b = ScaleReward(make_vec_env("CartPole-v1", 2), gamma=0.99)
    b.load_state_dict({**state, "returns": [5.0, 5.0]})
    a.reset(seed=1)
    b.reset(seed=1)
    for action in ([0, 1], [1, 1], [0, 0], [1, 0]):
        np.testing.assert_array_equal(a.step(np.array(action))[1], b.step(np.array(action))[1])
    assert a.state_dict() == b.state_dict()
