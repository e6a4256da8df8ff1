"""Seeds sharing one frozen LM (helmrl.seed_group): each member is its single run, only the LM's
step is batched over the members' envs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from helmrl.config import ConfigError, TrainConfig
from helmrl.seed_group import check_group, parse_seeds, train_group


def rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_seed_lists_parse_and_bad_ones_are_refused_in_one_line():
    assert parse_seeds("0,1,2") == [0, 1, 2]
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("3, 0-1") == [3, 0, 1]
    for bad, needle in [
        ("", "expected"),
        ("a", "expected"),
        ("1,1", "twice"),
        ("4-2", "expected"),
        ("-1", "expected"),
    ]:
        with pytest.raises(ConfigError, match=needle) as err:
            parse_seeds(bad)
        assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"agent": "cnn"}, "has none to share"),
        ({"lm": "random-init"}, "draws its own LM"),
        ({"bootstrap_truncated": True}, "one seed at a time"),
    ],
)
def test_groups_that_cannot_share_an_lm_are_refused(change, needle):
    with pytest.raises(ConfigError, match=needle):
        check_group([TrainConfig(**change)])


def test_members_must_agree_on_the_shared_lm():
    with pytest.raises(ConfigError, match="mem_len must agree"):
        check_group([TrainConfig(seed=0), TrainConfig(seed=1, mem_len=32)])


def test_a_sweep_groups_only_cells_that_differ_in_seed():
    """Two envs x (HELM, a HELM variant, CNN-PPO) x 3 seeds: a group per (env, HELM variant) and
    CNN-PPO's cells alone, never one group of the whole grid (a process per member)."""
    from helmrl.sweep.runner import cell_groups
    from helmrl.sweep.spec import SweepSpec

    spec = SweepSpec.from_dict(
        {
            "envs": ["LagRecall-K1-OneHot-v0", "LagRecall-K2-OneHot-v0"],
            "agents": ["helm", "cnn"],
            "seeds": [0, 1, 2],
            "variants": {"helm-attention": {"agent": "helm", "history_read": "attention"}},
        }
    )
    groups = [[c.name for c in g] for g in cell_groups(spec.cells(), 1)]
    helm = [g for g in groups if len(g) > 1]
    assert len(helm) == 4 and all(len(g) == 3 for g in helm)
    for g in helm:
        assert len({n.rsplit("-s", 1)[0] for n in g}) == 1  # one env and variant, three seeds
    assert sorted(n for g in groups if len(g) == 1 for n in g) == sorted(
        c.name for c in spec.cells() if c.agent == "cnn"
    )


def _cfg(lm: Path, seed: int, **changes) -> TrainConfig:
    return TrainConfig(
        env_id="CueRecall-v0",
        agent="helm",
        lm=str(lm),
        seed=seed,
        n_envs=4,
        rollout_steps=16,
        n_minibatches=2,
        epochs=1,
        total_steps=4 * 16 * 2,
        mem_len=16,
        n_sink=2,
        torch_threads=1,
        frozen_dtype="float32",
        **changes,
    )


@pytest.mark.slow
def test_a_member_trains_as_its_single_run(tiny_llama_dir, tmp_path):
    from helmrl.runs import train

    singles = {}
    for seed in (0, 1):
        train(_cfg(tiny_llama_dir, seed), tmp_path / f"single-{seed}", progress=False)
        singles[seed] = rows(tmp_path / f"single-{seed}")
    # A group of one steps exactly the rows its single run steps: bit for bit.
    codes = train_group(
        [_cfg(tiny_llama_dir, 0)], [tmp_path / "one" / "s0"], [False], progress=False, lm_threads=1
    )
    assert codes == [0]
    assert rows(tmp_path / "one" / "s0") == singles[0] or _same_but_time(
        rows(tmp_path / "one" / "s0"), singles[0]
    )
    # Two members: each member's rows are its own, the LM batch is 8 envs instead of 4. On this
    # tiny fp32 LM the GEMMs of 4 and 8 rows may round differently (~1e-6), so the learning
    # statistics are compared at rtol 1e-3; the episode counts and steps exactly.
    dirs = [tmp_path / "two" / f"s{s}" for s in (0, 1)]
    codes = train_group(
        [_cfg(tiny_llama_dir, s) for s in (0, 1)], dirs, [False, False], progress=False, lm_threads=1
    )
    assert codes == [0, 0]
    for seed, run in zip((0, 1), dirs, strict=True):
        got, want = rows(run), singles[seed]
        assert [r["step"] for r in got] == [r["step"] for r in want] == ["64", "128"]
        for g, w in zip(got, want, strict=True):
            assert g["episodes"] == w["episodes"]
            for key in ("episode_return_mean", "policy_loss", "value_loss", "entropy"):
                assert float(g[key]) == pytest.approx(float(w[key]), rel=1e-3, abs=1e-6), key


def _same_but_time(a: list[dict], b: list[dict]) -> bool:
    """Equal rows, but the wall-clock columns."""
    drop = ("fps", "time_s")
    return [{k: v for k, v in r.items() if k not in drop} for r in a] == [
        {k: v for k, v in r.items() if k not in drop} for r in b
    ]


@pytest.mark.slow
def test_the_cli_trains_a_group_into_one_folder_per_seed_and_resumes_it(tiny_llama_dir, tmp_path, capsys):
    from helmrl.cli import main

    root = tmp_path / "group"
    common = [
        "--env-id",
        "CueRecall-v0",
        "--agent",
        "helm",
        "--lm",
        str(tiny_llama_dir),
        "--n-envs",
        "2",
        "--rollout-steps",
        "8",
        "--n-minibatches",
        "2",
        "--mem-len",
        "8",
        "--n-sink",
        "1",
        "--frozen-dtype",
        "float32",
        "--no-progress",
    ]
    assert main(["train", *common, "--seeds", "0-1", "--total-steps", "16", "--run-dir", str(root)]) == 0
    assert sorted(p.name for p in root.iterdir()) == ["s0", "s1"]
    assert [TrainConfig.load(root / s / "config.json").seed for s in ("s0", "s1")] == [0, 1]
    assert main(["train", "--resume", str(root), "--total-steps", "32", "--no-progress"]) == 0
    assert [len(rows(root / s)) for s in ("s0", "s1")] == [2, 2]
    assert main(["train", "--resume", str(root), "--lr", "0.1"]) == 2
    assert "only" in capsys.readouterr().err


@pytest.mark.slow
def test_a_sweep_trains_its_helm_cells_as_one_group_and_records_each(tiny_llama_dir, tmp_path, capsys):
    import json

    from helmrl.cli import main

    spec = tmp_path / "g.toml"
    spec.write_text(
        'name = "g"\nenvs = ["CueRecall-v0"]\nagents = ["helm", "cnn"]\nseeds = [0, 1]\ntotal_steps = 16\n'
        "eval_episodes = 2\n[overrides]\n"
        f'lm = "{tiny_llama_dir}"\nn_envs = 2\nrollout_steps = 8\nn_minibatches = 2\nmem_len = 8\n'
        "n_sink = 1\n"
        'frozen_dtype = "float32"\n'
    )
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--list", "--batch-seeds"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].endswith("--batch-seeds --cell CueRecall-v0-helm-s0,CueRecall-v0-helm-s1")
    assert [ln.rsplit(" ", 1)[-1] for ln in lines[1:]] == ["CueRecall-v0-cnn-s0", "CueRecall-v0-cnn-s1"]
    group = lines[0].rsplit(" ", 1)[-1]
    assert main(["sweep", str(spec), "--out", str(out), "--cell", group]) == 2  # needs --batch-seeds
    capsys.readouterr()
    assert (
        main(["sweep", str(spec), "--out", str(out), "--cell", group, "--batch-seeds", "--allow-dirty"]) == 0
    )
    for name in group.split(","):
        info = json.loads((out / name / "cell.json").read_text())
        assert info["group"] == sorted(group.split(",")) and "one LM process for 2 cells" in info["device"]
        assert len(info["eval"]["greedy_returns"]) == 2 and info["wall_s"] > 0
        assert "group=2" in (out / name / "attempts.log").read_text()
        assert len(rows(out / name)) == 1  # 16 steps of 2 envs x 8


@pytest.mark.slow
def test_a_member_that_fails_leaves_and_the_others_finish(tiny_llama_dir, tmp_path, capfd):
    bad = tmp_path / "s1"
    bad.mkdir()
    (bad / "notes.txt").write_text("not a run")  # a folder that is not a helmrl run: refused
    dirs = [tmp_path / "s0", bad]
    codes = train_group([_cfg(tiny_llama_dir, s) for s in (0, 1)], dirs, [False, False], progress=False)
    assert codes == [0, 2]
    err = [ln for ln in capfd.readouterr().err.splitlines() if "error:" in ln]
    assert (
        err == [f"helmrl train: s1: error: {err[0].split('error: ', 1)[1]}"] and "not a helmrl run" in err[0]
    )
    assert [r["step"] for r in rows(dirs[0])] == ["64", "128"]
    assert (bad / "notes.txt").read_text() == "not a run"
