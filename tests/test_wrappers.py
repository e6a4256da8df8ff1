"""The frozen-history wrapper gives exactly the trainer's history on the same observation stream,
across episode resets, for gymnasium's vector API (both autoreset modes) and SB3's VecEnv."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from helmrl.envs import make_env, make_vec_env
from helmrl.frozen.history_config import HistoryConfig
from helmrl.frozen.history_stage import build_history_stage
from helmrl.ppo.acting import ActingLoop
from helmrl.wrappers import FrozenHistoryObservation, ObservationLayoutError

from .conftest import tiny_llama

CFG = HistoryConfig(mem_len=6, n_sink=2, frozen_dtype="float32", hopfield_cache=0)
ENV = "CueRecall-v0"  # episodes of 6-11 steps: many resets in a short stream


def _stage(lm, obs_shape=(5,), device="cpu"):
    return build_history_stage(CFG, obs_shape, device, lm)


def test_same_step_wrapper_equals_the_trainers_acting_loop():
    """The trainer's stream (the wrapper without terminal histories) equals a user's wrapper, whose
    extra LM step per ending episode is undone exactly."""
    lm = tiny_llama()
    wrapped = FrozenHistoryObservation(make_vec_env(ENV, 3), _stage(lm))
    loop = ActingLoop(make_vec_env(ENV, 3), None, _stage(lm))
    obs, _ = wrapped.reset(seed=4)
    wrapped.action_space.seed(4)
    loop.reset(seed=4)
    resets = 0
    for _ in range(40):
        assert np.array_equal(obs["observation"], loop.next_obs["observation"].numpy())
        assert torch.equal(torch.as_tensor(obs["history"]), loop.next_history)
        step = loop.step()  # samples from its own action space, seeded alike
        obs, _, term, trunc, _ = wrapped.step(step.action.numpy())
        resets += int((term | trunc).sum())
    assert resets >= 6  # the comparison crossed many episode boundaries


def test_next_step_wrapper_clears_memory_on_the_reset_observation():
    lm = tiny_llama()
    venv = SyncVectorEnv([lambda: make_env(ENV)] * 3, autoreset_mode=AutoresetMode.NEXT_STEP)
    wrapped = FrozenHistoryObservation(venv, _stage(lm))
    reference = _stage(lm)
    reference.reset(3)
    obs, _ = wrapped.reset(seed=1)
    starts, ended = np.ones(3, dtype=bool), np.zeros(3, dtype=bool)
    resets = 0
    for _ in range(40):
        expected = reference(torch.as_tensor(obs["observation"]), torch.as_tensor(starts))
        assert torch.equal(torch.as_tensor(obs["history"]), expected)
        obs, _, term, trunc, _ = wrapped.step(wrapped.action_space.sample())
        # NEXT_STEP: the ending step returns the terminal observation (still the old episode);
        # the step after returns the next episode's first one.
        starts, ended = ended, term | trunc
        resets += int(starts.sum())
    assert resets >= 6


def test_same_step_final_obs_carries_the_history_its_episode_closes_with():
    lm = tiny_llama()
    wrapped = FrozenHistoryObservation(make_vec_env(ENV, 2), _stage(lm))
    obs, _ = wrapped.reset(seed=2)
    episodes: list[list[np.ndarray]] = [[o] for o in obs["observation"]]
    checked = 0
    for _ in range(30):
        obs, _, term, trunc, info = wrapped.step(wrapped.action_space.sample())
        for i in range(2):
            if term[i] or trunc[i]:
                final = info["final_obs"][i]
                one = _stage(lm)  # the episode alone, in a fresh one-env memory
                one.reset(1)
                seq = [*episodes[i], final["observation"]]
                for t, o in enumerate(seq):
                    h = one(torch.as_tensor(o)[None], torch.tensor([t == 0]))
                assert torch.allclose(torch.as_tensor(final["history"]), h[0], atol=1e-5)
                episodes[i] = [obs["observation"][i]]
                checked += 1
            else:
                episodes[i].append(obs["observation"][i])
    assert checked >= 3


def test_sb3_vecenv_adapter_equals_the_trainers_acting_loop():
    pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.vec_env import DummyVecEnv

    from helmrl.integrations.sb3 import FrozenHistoryVecEnv

    lm = tiny_llama()
    venv = DummyVecEnv([lambda: make_env(ENV)] * 3)
    venv.seed(5)
    wrapped = FrozenHistoryVecEnv(venv, _stage(lm))
    reference = _stage(lm)
    reference.reset(3)
    obs = wrapped.reset()
    starts = np.ones(3, dtype=bool)
    resets = 0
    rng = np.random.default_rng(0)
    for _ in range(40):
        expected = reference(torch.as_tensor(obs["observation"]), torch.as_tensor(starts))
        assert torch.equal(torch.as_tensor(obs["history"]), expected)
        obs, _, dones, infos = wrapped.step(rng.integers(0, 2, size=3))
        for i in np.flatnonzero(dones):
            assert set(infos[i]["terminal_observation"]) == {"observation", "history"}
        starts = dones  # SB3 resets on the ending step
        resets += int(dones.sum())
    assert resets >= 6


@pytest.mark.parametrize(
    "space,needle",
    [
        (gym.spaces.Box(0, 255, (3, 56, 56), np.uint8), "channel-first"),
        (
            gym.spaces.Dict({"direction": gym.spaces.Discrete(4), "pos": gym.spaces.Box(0, 1, (2,))}),
            "without an image",
        ),
    ],
)
def test_bad_observations_are_refused_in_one_line(space, needle):
    class Env(gym.Env):
        observation_space, action_space = space, gym.spaces.Discrete(2)

    venv = SyncVectorEnv([Env] * 2, autoreset_mode=AutoresetMode.SAME_STEP)
    with pytest.raises(ObservationLayoutError, match=needle) as err:
        FrozenHistoryObservation(venv, _stage(tiny_llama()))
    assert "\n" not in str(err.value)


def test_disabled_autoreset_is_refused():
    venv = SyncVectorEnv([lambda: make_env(ENV)] * 2, autoreset_mode=AutoresetMode.DISABLED)
    with pytest.raises(ValueError, match="DISABLED|Disabled|disabled"):
        FrozenHistoryObservation(venv, _stage(tiny_llama()))


@pytest.mark.gpu
def test_wrapper_on_cuda_matches_cpu():
    lm = tiny_llama()
    cpu = FrozenHistoryObservation(make_vec_env(ENV, 2), _stage(lm))
    gpu = FrozenHistoryObservation(make_vec_env(ENV, 2), _stage(tiny_llama(), device="cuda"), device="cuda")
    a, _ = cpu.reset(seed=0)
    b, _ = gpu.reset(seed=0)
    for _ in range(10):
        assert np.allclose(a["history"], b["history"], atol=1e-3)
        act = cpu.action_space.sample()
        a, b = cpu.step(act)[0], gpu.step(act)[0]


def test_public_api_names_import_and_agree_with_all():
    import helmrl

    assert set(helmrl.__all__) == set(helmrl._EXPORTS) | set(helmrl._RENAMED)
    for name in helmrl.__all__:
        assert getattr(helmrl, name) is not None
    with pytest.raises(AttributeError):
        helmrl.NoSuchThing  # noqa: B018


def test_models_do_not_import_the_app_config():
    import subprocess
    import sys

    code = "import sys, helmrl.models, helmrl.wrappers; print('helmrl.config' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_a_module_dropped_into_a_registry_package_registers_itself(tmp_path):
    from helmrl.models.agents import AGENTS
    from helmrl.registry import import_submodules

    pkg = tmp_path / "extra_agents"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "mine.py").write_text(
        "from helmrl.models.agents import CNNAgent, register_agent\n"
        "@register_agent('mine-test')\nclass Mine(CNNAgent):\n    pass\n"
    )
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        import_submodules("extra_agents", [str(pkg)])
        assert "mine-test" in AGENTS
    finally:
        sys.path.remove(str(tmp_path))
        AGENTS.pop("mine-test", None)


def test_the_read_window_holds_the_episodes_last_histories_as_helms_attention_read_does():
    """read_window: each observation carries its episode's last W histories (this step's last) and
    their validity, the same window HELM's attention read keeps when it acts on that stream; a
    terminal observation's window closes its episode."""
    from helmrl.models.agents import agent_class
    from helmrl.models.configs import NetConfig
    from helmrl.observation_keys import HISTORY_VALID, HISTORY_WINDOW

    W = 4
    wrapped = FrozenHistoryObservation(make_vec_env(ENV, 2), _stage(tiny_llama()), read_window=W)
    assert wrapped.single_observation_space[HISTORY_WINDOW].shape == (W, 32)
    agent = agent_class("helm").from_config(NetConfig(history_read="attention", read_window=W), (5,), 2, 32)
    obs, _ = wrapped.reset(seed=3)
    starts, state = np.ones(2, dtype=bool), agent.initial_state(2)
    since = np.zeros(2, dtype=int)  # steps since each env's episode started
    finals = 0
    for _ in range(30):
        as_torch = {k: torch.as_tensor(v) for k, v in obs.items()}
        with torch.no_grad():
            _, _, state = agent(as_torch, state, torch.as_tensor(starts))
        assert np.array_equal(obs[HISTORY_WINDOW][:, -1], obs["history"])
        assert np.array_equal(obs[HISTORY_VALID].sum(1), np.minimum(since + 1, W))
        assert np.array_equal(obs[HISTORY_VALID] > 0, state["valid"].numpy())
        valid = state["valid"].numpy()
        assert np.array_equal(obs[HISTORY_WINDOW][valid], state["window"].numpy()[valid])
        obs, _, term, trunc, info = wrapped.step(wrapped.action_space.sample())
        done = term | trunc
        for i in np.flatnonzero(done):
            final = info["final_obs"][i]
            assert np.array_equal(final[HISTORY_WINDOW][-1], final["history"])
            assert final[HISTORY_VALID].sum() == min(since[i] + 2, W)
            finals += 1
        since = np.where(done, 0, since + 1)
        starts = done
    assert finals >= 3


def test_truncated_final_histories_only_equal_the_full_ones_and_skip_terminations():
    """``final_history="truncated"``: the histories a bootstrap reads, no LM step for terminations."""

    def envs():
        make = lambda: gym.make(ENV, max_episode_steps=8)  # noqa: E731 - CueRecall ends after 6-11 steps
        return SyncVectorEnv([make, make], autoreset_mode=AutoresetMode.SAME_STEP)

    lm = tiny_llama()
    full, some = (
        FrozenHistoryObservation(envs(), _stage(lm)),
        FrozenHistoryObservation(envs(), _stage(lm), final_history="truncated"),
    )
    full.reset(seed=4), some.reset(seed=4)
    full.action_space.seed(4)
    seen = {"terminated": 0, "truncated": 0}
    for _ in range(60):
        action = full.action_space.sample()
        a, b = full.step(action), some.step(action)
        np.testing.assert_array_equal(a[0]["history"], b[0]["history"])  # the stream is untouched
        term, trunc, info_a, info_b = a[2], a[3], a[4], b[4]
        for i in np.flatnonzero(term | trunc):
            if trunc[i] and not term[i]:
                np.testing.assert_array_equal(
                    info_a["final_obs"][i]["history"], info_b["final_obs"][i]["history"]
                )
                seen["truncated"] += 1
            else:
                assert not isinstance(info_b["final_obs"][i], dict)  # as the env gave it
                np.testing.assert_array_equal(info_b["final_obs"][i], info_a["final_obs"][i]["observation"])
                seen["terminated"] += 1
    assert min(seen.values()) >= 2, seen


def test_device_histories_are_the_stages_tensors_and_equal_the_numpy_ones():
    lm = tiny_llama()
    plain = FrozenHistoryObservation(make_vec_env(ENV, 2), _stage(lm))
    direct = FrozenHistoryObservation(make_vec_env(ENV, 2), _stage(lm), device_histories=True)
    a, _ = plain.reset(seed=1)
    b, _ = direct.reset(seed=1)
    plain.action_space.seed(1)
    for _ in range(12):
        assert isinstance(a["history"], np.ndarray) and isinstance(b["history"], torch.Tensor)
        np.testing.assert_array_equal(a["history"], b["history"].numpy())
        action = plain.action_space.sample()
        a, b = plain.step(action)[0], direct.step(action)[0]
    with pytest.raises(ValueError, match="read_window"):
        FrozenHistoryObservation(make_vec_env(ENV, 2), _stage(lm), read_window=4, device_histories=True)
