"""The command line: a whole run end to end, and bad input refused in one line with exit 2."""

import csv
import json

import pytest

from helmrl.cli import main


def _small(run_dir, lm_dir, *extra):
    return [
        "train",
        "--agent",
        "helm",
        "--lm",
        str(lm_dir),
        "--env",
        "MiniGrid-KeyCorridorS3R1-v0",
        "--total-steps",
        "256",
        "--n-envs",
        "4",
        "--rollout-steps",
        "16",
        "--n-minibatches",
        "4",
        "--mem-len",
        "8",
        "--checkpoint-every",
        "2",
        "--run-dir",
        str(run_dir),
        "--no-progress",
        *extra,
    ]


def test_train_resume_eval_end_to_end(tmp_path, tiny_llama_dir, capsys):
    run = tmp_path / "run"
    assert main(_small(run, tiny_llama_dir)) == 0
    out = capsys.readouterr().out
    assert "checkpoint" in out and "learning_curve.png" in out
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["agent"] == "helm" and cfg["total_steps"] == 256 and cfg["mem_len"] == 8
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert {"step", "episode_return_mean", "episode_length_mean", "fps"} <= set(rows[0])
    assert [int(r["step"]) for r in rows] == [64, 128, 192, 256]
    assert all(float(r["fps"]) > 0 for r in rows)
    assert (run / "checkpoint.pt").stat().st_size > 0
    assert (run / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert any(p.name.startswith("events.out.tfevents") for p in (run / "tb").iterdir())

    # Continue to more steps.
    assert main(["train", "--resume", str(run), "--total-steps", "384", "--no-progress"]) == 0
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == [64, 128, 192, 256, 320, 384]

    assert main(["eval", str(run), "--episodes", "2"]) == 0
    assert "mean" in capsys.readouterr().out

    # analyses take the run positionally, like eval/plot/record, or as --run
    for form in ([str(run)], ["--run", str(run)]):
        out = tmp_path / f"words{len(form)}.png"
        assert main(["analyze", "words", *form, "--max-steps", "6", "--out", str(out)]) == 0
        assert out.read_bytes()[:4] == b"\x89PNG"


def test_resume_refuses_another_length_where_the_learning_rate_anneals_over_it(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--agent", "cnn", "--env", "MiniGrid-Empty-5x5-v0", "--n-envs", "2"]
    args += ["--rollout-steps", "16", "--total-steps", "32", "--anneal-lr", "true", "--no-progress"]
    assert main([*args, "--torch-threads", "1", "--run-dir", str(run)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--total-steps", "64", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "anneals" in err
    assert json.loads((run / "config.json").read_text())["total_steps"] == 32
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0  # at its own length


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--agent", "transformer"], "agent"),
        (["--env", "MiniGrid-KeyCoridorS3R1-v0"], "MiniGrid-KeyCorridorS3R1-v0"),
        (["--total-steps", "0"], "total_steps"),
        (["--total-steps", "-5"], "total_steps"),
        (["--beta", "0"], "beta"),
        (["--beta", "-1"], "beta"),
        (["--lm", "/no/such/model"], "/no/such/model"),
        (["--n-minibatches", "0"], "n_minibatches"),
        (["--env", "nosuchpkg:Thing-v0"], "nosuchpkg"),
        (["--mem-len", "4", "--n-sink", "4"], "n_sink"),
        (["--preset", "nope"], None),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(args, needle, tmp_path, capsys):
    run = tmp_path / "run"
    with pytest.raises(SystemExit) if args[0] == "--preset" else _nothing():
        code = main(["train", "--run-dir", str(run), *args])
        assert code == 2
    err = capsys.readouterr().err.strip()
    if needle:
        assert len(err.splitlines()) == 1 and needle in err and "Traceback" not in err
    assert not run.exists()


def test_device_cuda_without_a_gpu_is_refused(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    run = tmp_path / "run"
    assert main(["train", "--agent", "cnn", "--device", "cuda", "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--device cuda" in err and "--device cpu" in err
    assert not run.exists()


def _subcommand_paths(parser, prefix=()):
    import argparse

    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subcommand_paths(sub, (*prefix, name))


def test_every_help_exits_0(capsys):
    from helmrl.cli import build_parser

    paths = list(_subcommand_paths(build_parser()))
    assert ("analyze", "memory") in paths or ("analyze", "words") in paths
    for path in paths:
        with pytest.raises(SystemExit) as exit_info:
            main([*path, "--help"])
        assert exit_info.value.code == 0, path
        assert "usage: helmrl" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["train", "--out", "x"], ["eval", "runs/x", "--epi", "3"]])
def test_a_prefix_of_a_flag_is_refused_not_taken_for_it(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:  # --out would otherwise be --output-gain
        main(argv)
    assert exit_info.value.code == 2
    assert f"unrecognized arguments: {argv[-2]}" in capsys.readouterr().err


def test_literal_fields_offer_their_choices(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--similarity", "l2"])
    err = capsys.readouterr().err
    assert "cosine" in err and "dot" in err


def test_existing_run_is_not_clobbered(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "metrics.csv").write_text("precious")
    assert main(["train", "--agent", "cnn", "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert "holds another run" in err and "--resume" in err
    assert (run / "metrics.csv").read_text() == "precious"


def test_eval_of_missing_run_is_a_clear_error(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nothing")]) == 2
    assert "config.json" in capsys.readouterr().err


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_every_option_names_its_default():
    import argparse

    from helmrl.cli import build_parser

    def parsers(p):
        yield p
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for sub in a.choices.values():
                    yield from parsers(sub)

    missing = []
    for p in parsers(build_parser()):
        formatter = p._get_formatter()
        for a in p._actions:
            if a.option_strings and not isinstance(a, argparse._HelpAction):
                text = formatter._expand_help(a) if a.help else ""
                if "default" not in text or "default: None" in text or "default: )" in text:
                    missing.append(f"{p.prog} {a.option_strings[0]}: {text}")
    assert not missing, missing


@pytest.mark.parametrize(
    "raised,checkpoint,needle",
    [
        (KeyboardInterrupt("cell CartPole-v1-cnn-s0 interrupted"), True, "its checkpoint is saved"),
        (KeyboardInterrupt(), True, "its last checkpoint is kept"),
        (KeyboardInterrupt(), False, "no checkpoint yet"),
    ],
)
def test_an_interrupted_sweep_cell_is_one_line_and_exit_130(
    raised, checkpoint, needle, tmp_path, monkeypatch, capsys
):
    import helmrl.sweep

    spec = tmp_path / "one.toml"
    spec.write_text(
        'name = "one"\nenvs = ["CartPole-v1"]\nagents = ["cnn"]\nseeds = [0]\ntotal_steps = 256\n'
    )
    out = tmp_path / "out"

    def interrupted(config, run_dir, eval_episodes):
        if checkpoint:
            (out / "CartPole-v1-cnn-s0").mkdir(parents=True)
            (out / "CartPole-v1-cnn-s0" / "checkpoint.pt").write_bytes(b"")
        raise raised

    monkeypatch.setattr(helmrl.sweep, "run_cell", interrupted)
    assert (
        main(["sweep", str(spec), "--out", str(out), "--cell", "CartPole-v1-cnn-s0", "--allow-dirty"]) == 130
    )
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("helmrl sweep: cell CartPole-v1-cnn-s0 interrupted; ")
    assert needle in lines[0] and "run the same command" in lines[0] and "Traceback" not in captured.out


def test_the_config_nests_the_model_and_ppo_configs_and_reads_flat_or_nested():
    """TrainConfig holds HistoryConfig, NetConfig and PPOConfig whole; each of their fields is one
    flat option, defined once (its default and help are the section's); config.json is flat, and a
    nested one loads the same."""
    from dataclasses import fields

    from helmrl.config import HISTORY_OWN, INPUT_MAPS, TrainConfig, config_fields, section_of
    from helmrl.errors import ConfigError
    from helmrl.frozen.history_config import HistoryConfig
    from helmrl.models.configs import NetConfig
    from helmrl.ppo.config import PPOConfig

    flat = {f.name: f for f in config_fields()}
    for name, config in (("history", HistoryConfig), ("net", NetConfig), ("ppo", PPOConfig)):
        for f in fields(config):
            if name == "history" and f.name in HISTORY_OWN:
                assert f.name not in flat or section_of()[f.name] is None  # the run's seed, not the stage's
                continue
            assert section_of()[f.name] == name and flat[f.name] is f, f.name
    cfg = TrainConfig(agent="shelm", seed=7, mem_len=9, lr=3e-4, head="linear")
    assert (cfg.history.mem_len, cfg.ppo.lr, cfg.net.head) == (9, 3e-4, "linear")
    assert (cfg.history.seed, cfg.history.input_map) == (7, INPUT_MAPS["shelm"])
    assert cfg.replace(seed=8, agent="helm").history == HistoryConfig(mem_len=9, seed=8)
    data = cfg.to_dict()
    assert set(data) == set(flat) and data["mem_len"] == 9 and "input_map" not in data
    assert TrainConfig.from_dict(data) == cfg
    nested = {k: v for k, v in data.items() if section_of()[k] is None}
    for name in ("history", "net", "ppo"):
        nested[name] = {k: v for k, v in data.items() if section_of()[k] == name}
    assert TrainConfig.from_dict(nested) == cfg
    with pytest.raises(ConfigError, match="mem_lenn"):
        TrainConfig.from_dict({**data, "mem_lenn": 3})
    assert TrainConfig().net == NetConfig() and TrainConfig().ppo == PPOConfig()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("lr=3e-4", ("lr", 3e-4)),
        ("rollout_steps=32", ("rollout_steps", 32)),
        ("anneal_lr=off", ("anneal_lr", False)),
        ("similarity=dot", ("similarity", "dot")),
    ],
)
def test_field_overrides_parse_to_the_fields_type(text, expected):
    from helmrl.config import parse_override

    name, value = parse_override(text)
    assert (name, value) == expected and type(value) is type(expected[1])


@pytest.mark.parametrize(
    "text, needle",
    [
        ("lr", "FIELD=VALUE"),
        ("lrr=1", "FIELD=VALUE"),
        ("rollout_steps=3.5", "rollout_steps"),
        ("anneal_lr=maybe", "true/false"),
        ("similarity=l2", "cosine"),
    ],
)
def test_bad_field_overrides_are_one_line_config_errors(text, needle):
    from helmrl.config import parse_override
    from helmrl.errors import ConfigError

    with pytest.raises(ConfigError, match=needle) as err:
        parse_override(text)
    assert "\n" not in str(err.value)
