"""helmrl sweep: specs are validated up front; cells run on a real local Ray cluster, survive a
killed worker (retried from the checkpoint) and are skipped when finished."""

from __future__ import annotations

import csv
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helmrl.cli import main
from helmrl.ppo.checkpoint import load_checkpoint
from helmrl.sweep import SpecError, SweepSpec, format_summary

RAY = str(Path(sys.executable).with_name("ray"))

GOOD = {"envs": ["CartPole-v1"], "agents": ["cnn"], "seeds": [0]}


@pytest.mark.parametrize(
    "change,needle",
    [
        ({"colour": "red"}, "'colour'"),
        ({"envs": ["CartPol-v1"]}, "envs"),
        ({"agents": ["gpt"]}, "agents"),
        ({"seeds": []}, "'seeds'"),
        ({"overrides": {"n_env": 4}}, "'n_env'"),
        ({"overrides": {"seed": 4}}, "'seed'"),
        ({"preset": "nope"}, "preset"),
        ({"overrides": {"lr": -1.0}}, "lr"),
    ],
)
def test_bad_specs_are_refused_naming_the_key(change, needle, tmp_path, capsys):
    with pytest.raises(SpecError, match=needle):
        SweepSpec.from_dict({**GOOD, **change})
    spec = tmp_path / "bad.toml"
    import json

    spec.write_text(
        "\n".join(f"{k} = {json.dumps(v)}" for k, v in {**GOOD, **change}.items() if k != "overrides")
    )
    if "overrides" in change:
        spec.write_text(
            spec.read_text()
            + "\n[overrides]\n"
            + "\n".join(f"{k} = {json.dumps(v)}" for k, v in change["overrides"].items())
        )
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--allow-dirty"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle.strip("'") in err
    assert not (tmp_path / "out").exists()


def test_cells_are_ordinary_run_directories():
    spec = SweepSpec.from_dict(
        {
            "envs": ["CartPole-v1"],
            "agents": ["cnn", "lstm"],
            "seeds": [0, 1],
            "total_steps": 999,
            "preset": "demo",
        }
    )
    cells = spec.cells()
    assert [c.name for c in cells] == [  # seed-major: early cells compare every agent
        "CartPole-v1-cnn-s0",
        "CartPole-v1-lstm-s0",
        "CartPole-v1-cnn-s1",
        "CartPole-v1-lstm-s1",
    ]
    assert all(c.config.total_steps == 999 and c.config.ppo.rollout_steps == 24 for c in cells)  # preset kept


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Loaded by every Python process of the test's Ray cluster (sitecustomize on PYTHONPATH): once
# helmrl's trainer is imported, the cell "*-s0" stops still right after update 5's metrics row,
# the first time only, and writes its pid into a FIFO the test reads. So the test kills the
# worker at a known point without polling or sleeping.
_PARK_HOOK = """
import importlib.abc, importlib.machinery, os, sys, time
from pathlib import Path

class _ParkHook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "helmrl.ppo.trainer":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        run = spec.loader.exec_module
        def exec_module(module):
            run(module)
            real = module.append_metrics
            def parked(path, row):
                real(path, row)
                marker = Path(path).parent / "parked"
                if row["update"] == 5 and Path(path).parent.name.endswith("-s0") and not marker.exists():
                    marker.touch()
                    with open(os.environ["HELMRL_TEST_PARK_FIFO"], "w") as fh:
                        fh.write(str(os.getpid()))
                    time.sleep(600)
            module.append_metrics = parked
        spec.loader.exec_module = exec_module
        return spec

if os.environ.get("HELMRL_TEST_PARK_FIFO"):
    sys.meta_path.insert(0, _ParkHook())
"""


@pytest.fixture
def ray_cluster(tmp_path):
    """A head and one worker node on 127.0.0.1, one CPU each, started with `ray start --block`
    in their own process groups, so teardown stops exactly these (never `ray stop`, which would
    also stop a sweep the user is running on this machine). Yields (address, FIFO) where the FIFO
    receives the pid of the worker parked by ``_PARK_HOOK``."""
    import tempfile

    port = _free_port()
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(_PARK_HOOK)
    fifo = tmp_path / "parked.fifo"
    os.mkfifo(fifo)
    pythonpath = os.pathsep.join(p for p in (str(hooks), os.environ.get("PYTHONPATH", "")) if p)
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "disabled",
        "PYTHONPATH": pythonpath,
        "HELMRL_TEST_PARK_FIFO": str(fifo),
    }
    temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths must fit 107 chars
    common = [
        "--num-cpus",
        "1",
        "--object-store-memory",
        str(100 * 2**20),
        "--disable-usage-stats",
        "--block",
    ]
    address = f"127.0.0.1:{port}"
    procs = []

    def start(args: list[str], what: str) -> None:
        """`ray start --block` prints "Ray runtime started." once its node is registered with the
        GCS (head: the GCS is up; worker: the node has joined); wait for that line, not a poll."""
        p = subprocess.Popen(
            [RAY, "start", *args, *common],
            env={**env, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        procs.append(p)
        answered, lines = threading.Event(), []

        def read() -> None:  # drains the pipe for the node's whole life, so it never blocks on it
            for line in p.stdout:
                lines.append(line)
                if "Ray runtime started." in line:
                    answered.set()
            answered.set()  # EOF: it exited without starting

        threading.Thread(target=read, daemon=True).start()
        assert answered.wait(60) and any("Ray runtime started." in line for line in lines), (
            f"the Ray {what} did not come up:\n" + "".join(lines)
        )

    try:
        start(
            [
                "--head",
                "--node-ip-address",
                "127.0.0.1",
                "--port",
                str(port),
                "--include-dashboard",
                "false",
                "--temp-dir",
                temp,
            ],
            "head",
        )
        start(["--address", address, "--node-ip-address", "127.0.0.1"], "worker node")
        yield address, fifo
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(timeout=5)  # Ray exits on SIGTERM within seconds; then SIGKILL
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def _rows(run_dir: Path) -> int:
    try:
        with open(run_dir / "metrics.csv") as fh:
            return sum(1 for _ in csv.DictReader(fh))
    except (FileNotFoundError, KeyError):
        return 0


@pytest.mark.slow
def test_sweep_on_a_local_cluster_survives_a_killed_worker_and_resumes(ray_cluster, tmp_path):
    address, fifo = ray_cluster
    spec = tmp_path / "grid.toml"
    spec.write_text(
        'name = "grid"\nenvs = ["CartPole-v1"]\nagents = ["lstm"]\nseeds = [0, 1]\ntotal_steps = 1024\n'
        "[overrides]\nn_envs = 2\nrollout_steps = 16\ncheckpoint_every = 2\n"
    )
    out = tmp_path / "out"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # open before the writer: it never blocks
    driver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "helmrl.cli",
            "sweep",
            str(spec),
            "--out",
            str(out),
            "--address",
            address,
            "--allow-dirty",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    victim = out / "CartPole-v1-lstm-s0"
    lines: list[str] = []  # the driver's output, drained all along so a full pipe never stalls it
    drain = threading.Thread(target=lambda: lines.extend(driver.stdout), daemon=True)
    drain.start()
    # Wait for the parked worker's pid. On a loaded 2-core host, starting Ray workers (each imports
    # torch) can take minutes, so the wait is bounded by the driver's life and a generous cap, and a
    # driver that dies first fails at once with its log.
    deadline = time.monotonic() + 480
    ready = []
    while not ready and driver.poll() is None and time.monotonic() < deadline:
        ready, _, _ = select.select([reader], [], [], 5)  # wakes when the parked worker writes
    if not ready:
        driver.kill()
        drain.join(10)
        pytest.fail(f"no cell reached update 5 (driver rc={driver.poll()}):\n" + "".join(lines[-60:]))
    pid = int(os.read(reader, 64).decode())
    os.close(reader)
    assert _rows(victim) == 5 and load_checkpoint(victim / "checkpoint.pt")["update"] == 4
    assert pid == int((victim / "attempts.log").read_text().split("pid=")[1].split()[0])
    os.kill(pid, signal.SIGKILL)  # the Ray worker running this cell dies mid-cell
    driver.wait(timeout=300)
    drain.join(30)
    log = "".join(lines)
    assert driver.returncode == 0, log

    attempts = (victim / "attempts.log").read_text().splitlines()
    assert len(attempts) == 2, attempts
    assert int(attempts[1].split("update=")[1].split()[0]) >= 2  # retried from its checkpoint, not from zero
    with open(out / "summary.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["agent"], r["seed"], r["steps"]) for r in rows] == [
        ("lstm", "0", "1024"),
        ("lstm", "1", "1024"),
    ]
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "cells: 2 done" in log

    # Re-running the same command skips the finished cells.
    again = subprocess.run(
        [
            sys.executable,
            "-m",
            "helmrl.cli",
            "sweep",
            str(spec),
            "--out",
            str(out),
            "--address",
            address,
            "--allow-dirty",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0 and "2 already finished, 0 to run" in again.stdout
    assert len((victim / "attempts.log").read_text().splitlines()) == 2


def test_variants_add_labelled_cells():
    spec = SweepSpec.from_dict(
        {
            "envs": ["CueRecall-v0"],
            "agents": ["lstm"],
            "seeds": [0],
            "variants": {"helm-l4": {"history_layer": "4"}, "helm-rand": {"lm": "random-init"}},
        }
    )
    names = {c.name: c for c in spec.cells()}
    assert set(names) == {"CueRecall-v0-lstm-s0", "CueRecall-v0-helm-l4-s0", "CueRecall-v0-helm-rand-s0"}
    l4 = names["CueRecall-v0-helm-l4-s0"].config
    assert l4.agent == "helm" and l4.history.history_layer == "4" and l4.label == "helm-l4"
    assert names["CueRecall-v0-lstm-s0"].config.label == ""
    with pytest.raises(SpecError, match="variants.bad"):
        SweepSpec.from_dict({**GOOD, "variants": {"bad": {"histroy_layer": "4"}}})


def test_list_prints_one_command_per_unfinished_cell_and_cell_runs_one_without_ray(tmp_path, capsys):
    """The Ray-less path (a batch scheduler, or `xargs -P`): `--list`, then `--cell NAME`."""
    spec = tmp_path / "small.toml"
    spec.write_text(
        'name = "small"\nenvs = ["CartPole-v1"]\nagents = ["cnn"]\nseeds = [0, 1]\ntotal_steps = 256\n'
        "eval_episodes = 6\n[overrides]\nn_envs = 2\nrollout_steps = 64\n"
    )
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.rsplit(" ", 1)[-1] for ln in lines] == ["CartPole-v1-cnn-s0", "CartPole-v1-cnn-s1"]
    assert all(ln.startswith("helmrl sweep ") and "--cell" in ln for ln in lines)
    assert main(["sweep", str(spec), "--out", str(out), "--cell", "CartPole-v1-cnn-s1", "--allow-dirty"]) == 0
    assert _rows(out / "CartPole-v1-cnn-s1") == 2  # 256 steps / (2 envs x 64)
    assert not (out / "CartPole-v1-cnn-s0").exists()
    info = json.loads((out / "CartPole-v1-cnn-s1" / "cell.json").read_text())
    assert info["wall_s"] > 0 and "torch threads" in info["device"]  # what ran it, for the record
    assert info["cpu_model"] and isinstance(info["isa_flags"], list) and info["versions"]["torch"]
    assert len(info["machines"]) == 1 and info["machines"][0]["cpu_model"] == info["cpu_model"]
    # The final policy over fresh episodes, sampled and greedy: CartPole pays 1 a step, so >= 8.
    for mode in ("sampled", "greedy"):
        returns = info["eval"][f"{mode}_returns"]
        assert (
            len(returns) == 6
            and min(returns) >= 8
            and info["eval"][f"{mode}_mean"] == pytest.approx(sum(returns) / 6)
        )
    capsys.readouterr()
    assert main(["sweep", str(spec), "--out", str(out), "--list"]) == 0
    assert capsys.readouterr().out.strip().splitlines() == [lines[0]]  # the finished cell drops out
    assert main(["sweep", str(spec), "--out", str(out), "--cell", "CartPole-v1-cnn-s7", "--allow-dirty"]) == 2
    assert "--list" in capsys.readouterr().err


def test_summary_tests_helm_against_each_baseline_with_exact_and_approximate_p(tmp_path):
    from helmrl.sweep import write_summary

    def row(agent: str, seed: int, ret: float) -> dict:
        return {
            "env": "E",
            "agent": agent,
            "seed": seed,
            "steps": 10,
            "final_return": ret,
            "wall_s": 1.0,
            "fps": 10.0,
        }

    rows = [row("helm", s, r) for s, r in enumerate([0.9, 0.8, 0.7])]
    rows += [row("cnn", s, r) for s, r in enumerate([0.1, 0.2, 0.3])]  # all below HELM
    rows += [row("lstm", s, r) for s, r in enumerate([0.75, 0.95, 0.5])]  # interleaved
    result = write_summary(rows, tmp_path)
    tests = {t["helm_vs"]: t for t in result["tests"]}
    assert tests["cnn"]["p_exact"] == pytest.approx(1 / 20)  # 3 vs 3: the smallest exact p there is
    assert tests["cnn"]["p_one_sided"] < 0.05  # the normal approximation is bolder
    assert tests["lstm"]["p_exact"] > 0.3
    iqm = {r["agent"]: r for r in result["iqm"]}
    # three runs: the mean and min-max, named so, never "IQM [CI]"
    assert iqm["cnn"]["statistic"] == "mean, min-max" and iqm["cnn"]["center"] == pytest.approx(0.2)
    assert (iqm["cnn"]["low"], iqm["cnn"]["high"]) == pytest.approx((0.1, 0.3))
    assert "cnn      n=3  mean 0.200 (min 0.100, max 0.300)" in format_summary(result)
    with open(tmp_path / "tests.csv") as fh:
        assert {r["helm_vs"] for r in csv.DictReader(fh)} == {"cnn", "lstm"}


def test_a_missing_spec_and_conflicting_modes_are_one_line_errors(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "nope.toml"), "--list"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("nope.toml") == 1 and "no such spec file" in err
    spec = tmp_path / "s.toml"
    spec.write_text('envs = ["CartPole-v1"]\nagents = ["cnn"]\nseeds = [0]\n')
    assert main(["sweep", str(spec), "--list", "--summary"]) == 2
    assert "one of them" in capsys.readouterr().err


def test_a_preset_gives_each_agent_its_own_settings_in_cli_and_sweep(capsys):
    from helmrl.cli import _config_from_args, build_parser
    from helmrl.config import AGENT_PRESETS

    own = AGENT_PRESETS["keycorridor"]
    for agent in ("helm", "lstm", "cnn"):
        args = build_parser().parse_args(["train", "--preset", "keycorridor", "--agent", agent])
        cfg = _config_from_args(args)
        assert (cfg.ppo.lr, cfg.ppo.rollout_steps, cfg.ppo.ent_coef) == (
            own[agent]["lr"],
            own[agent]["rollout_steps"],
            own[agent]["ent_coef"],
        )
    override = build_parser().parse_args(
        ["train", "--preset", "keycorridor", "--agent", "cnn", "--lr", "0.002"]
    )
    assert _config_from_args(override).ppo.lr == 0.002  # the command line wins over the preset
    cells = SweepSpec.from_dict({**GOOD, "agents": ["helm", "cnn"], "preset": "keycorridor"}).cells()
    by_agent = {c.agent: c.config for c in cells}
    assert by_agent["cnn"].ppo.lr == own["cnn"]["lr"]
    assert by_agent["helm"].history.mem_len == own["helm"]["mem_len"]
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert all(f"--agent {a}" in out for a in ("helm", "lstm", "cnn"))


def test_a_cell_is_refused_on_uncommitted_source_unless_allowed(tmp_path, capsys, monkeypatch):
    import helmrl.sweep.runner

    spec = tmp_path / "small.toml"
    spec.write_text(
        'name = "small"\nenvs = ["CartPole-v1"]\nagents = ["cnn"]\nseeds = [0]\ntotal_steps = 64\n'
    )
    monkeypatch.setattr(helmrl.sweep.runner, "source_commit", lambda: "abc1234+dirty")
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--cell", "CartPole-v1-cnn-s0"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "uncommitted" in err and "--allow-dirty" in err
    assert not out.exists()
    assert main(["sweep", str(spec), "--out", str(out), "--list"]) == 0  # listing runs nothing


def test_the_machine_record_reads_versions_without_importing_the_libraries():
    import subprocess
    import sys

    code = (
        "import sys; from helmrl.sweep.runner import machine_record; r = machine_record(); "
        "assert r['versions']['torch'] and not {'stable_baselines3', 'gym'} & set(sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Gym has been unmaintained" not in out.stderr  # what importing SB3 printed into every cell log


def test_a_groups_evaluations_run_on_the_cells_threads(tmp_path, monkeypatch):
    """The group's cells train in processes of their own; their evaluations run in the sweep's
    process, which must use the cells' torch_threads (two cores' worth beside another job slowed
    a screen's evaluation many times over)."""
    import torch

    import helmrl.seed_group
    from helmrl.config import TrainConfig
    from helmrl.sweep import runner

    seen = []
    monkeypatch.setattr(helmrl.seed_group, "train_group", lambda cfgs, *a, **k: [0] * len(cfgs))
    monkeypatch.setattr(runner, "record_evaluation", lambda p, n: seen.append(torch.get_num_threads()))
    monkeypatch.setattr(runner, "summary_row", lambda p: {})
    dirs = [tmp_path / f"s{s}" for s in (0, 1)]
    for d in dirs:
        d.mkdir()
        (d / "checkpoint.pt").write_bytes(b"")
    configs = [TrainConfig(seed=s, torch_threads=1, total_steps=64).to_dict() for s in (0, 1)]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        runner.run_cell_group(configs, [str(d) for d in dirs], eval_episodes=4)
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 1]
