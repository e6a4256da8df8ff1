"""experiments/update_anatomy.py: the loss terms' gradients land on the parts of the net they can
reach, and the optimizer steps per update follow the minibatch scheme."""

from __future__ import annotations

import math

import pytest

from .conftest import load_script


@pytest.fixture(scope="module")
def anatomy():
    return load_script("experiments/update_anatomy.py")


@pytest.mark.parametrize(
    ("label", "steps"),
    [
        ("cnn:n_envs=2,rollout_steps=8", 3 * 8),  # 3 epochs x 8 minibatches of single samples
        ("lstm:n_envs=2,rollout_steps=8,segments_per_minibatch=0", 3 * 2),  # one env a minibatch
        ("cnn:n_envs=2,rollout_steps=8,env_minibatches=true", 3 * 2),  # the same make-up, no memory
    ],
)
def test_each_term_reaches_only_its_parts_and_the_steps_follow_the_scheme(anatomy, tmp_path, label, steps):
    rows = anatomy.run(label, updates=2, seed=0, run_dir=tmp_path)
    assert [r["update"] for r in rows] == [1, 2]
    for row in rows:
        assert row["agent"] == label and row["adam_steps"] == steps
        # the value loss never reaches the actor, the policy's terms never the critic
        assert row["value_grad_actor"] == 0 and row["pg_grad_critic"] == 0 and row["entropy_grad_critic"] == 0
        assert row["value_grad_critic"] > 0 and row["pg_grad_actor"] > 0 and row["value_grad_trunk"] > 0
        assert -1 <= row["cos_pg_value_trunk"] <= 1 and row["head_input_spread"] > 0
        assert 0 < row["entropy"] <= math.log(4) + 1e-6  # 4 moves
        assert ("lstm_gates_saturated" in row) == label.startswith("lstm")
