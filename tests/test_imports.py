"""What a light command loads: listing presets or envs, a plot, or reading a config never imports
the trainer, the LM memory (nor, for the config, torch). Each check runs in a fresh interpreter."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from helmrl.config import TrainConfig

HEAVY = ("helmrl.ppo.trainer", "helmrl.frozen.lm_memory")

# Runs the CLI with argv (or imports the module a string names) in-process, then prints which of
# the watched modules got loaded.
_PROBE = """
import contextlib, io, json, sys
watched = json.loads(sys.argv[1])
argv = json.loads(sys.argv[2])
rc = None
if isinstance(argv, str):  # a module to import
    __import__(argv)
else:
    from helmrl.cli import main
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(argv)
        except SystemExit as exit_:
            rc = exit_.code
print(json.dumps({"rc": rc, "loaded": [m for m in watched if m in sys.modules]}))
"""


def _loaded(argv: list[str] | str, watched: tuple[str, ...]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(list(watched)), json.dumps(argv)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _fake_run(root: Path, seed: int) -> Path:
    run = root / f"run-s{seed}"
    run.mkdir()
    TrainConfig(env_id="CueRecall-v0", agent="helm", seed=seed).save(run / "config.json")
    with open(run / "metrics.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["update", "step", "episode_return_mean", "time_s"])
        for i in range(4):
            w.writerow([i + 1, 100 * (i + 1), 0.1 * i + 0.01 * seed, i])
    return run


@pytest.mark.parametrize("argv", [["presets"], ["envs"], ["plot", "--help"]], ids=" ".join)
def test_light_commands_never_load_the_trainer(argv):
    res = _loaded(argv, HEAVY)
    assert res["rc"] == 0
    assert res["loaded"] == []


def test_plot_of_runs_never_loads_the_trainer(tmp_path):
    runs = [str(_fake_run(tmp_path, seed)) for seed in (0, 1)]
    res = _loaded(["plot", *runs, "--out", str(tmp_path / "curves.png")], HEAVY)
    assert res["rc"] == 0
    assert (tmp_path / "curves.png").exists()
    assert res["loaded"] == []


def test_import_config_does_not_load_torch():
    assert _loaded("helmrl.config", ("torch", *HEAVY))["loaded"] == []


def test_errors_module_imports_nothing_heavy_and_old_names_still_import():
    assert _loaded("helmrl.errors", ("torch", "helmrl.config", "helmrl.models"))["loaded"] == []
    from helmrl import errors
    from helmrl.cli import UsageError
    from helmrl.config import ConfigError
    from helmrl.devices import DeviceError
    from helmrl.envs import EnvError
    from helmrl.frozen import HistoryConfigError, LanguageModelError
    from helmrl.frozen.vision_encoder import VisionEncoderError
    from helmrl.ppo import CheckpointError, NonFiniteError
    from helmrl.runs import RunDirError
    from helmrl.sweep import SpecError
    from helmrl.wrappers import ObservationLayoutError

    for cls in (
        UsageError,
        ConfigError,
        DeviceError,
        EnvError,
        HistoryConfigError,
        LanguageModelError,
        CheckpointError,
        NonFiniteError,
        RunDirError,
        SpecError,
        ObservationLayoutError,
        VisionEncoderError,
    ):
        assert getattr(errors, cls.__name__) is cls


# Each package of helmrl and the layer it sits in: a module may import only from its own layer or
# below (lazy imports inside functions included). ``helmrl`` itself is the lazy public facade.
LAYERS = {
    "errors": 0, "observation_keys": 0, "registry": 0,
    "frozen": 1, "models": 1, "envs": 1, "devices": 1, "config": 1,
    "wrappers": 2,
    "ppo": 3,
    "runs": 4, "integrations": 4, "seed_group": 4,
    "analysis": 5, "sweep": 5,
    "cli": 6, "__main__": 6, "helmrl": 6,
}  # fmt: skip


def _import_graph() -> dict[str, set[str]]:
    import ast

    root = Path(__file__).parents[1] / "src" / "helmrl"
    files = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - max(node.level - 1, 0)]
                target = ".".join(base + [node.module or ""]).strip(".") if node.level else node.module or ""
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    graph[name].add(full if full in files else target)
            elif isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names)
        graph[name] = {t for t in graph[name] if t in files and t != name}
    return graph


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS[parts[1] if len(parts) > 1 else "helmrl"]


def test_the_import_graph_has_no_cycles_and_no_module_imports_from_above_its_layer():
    graph = _import_graph()
    upward = [f"{m} -> {t}" for m, ts in graph.items() for t in ts if _layer(t) > _layer(m)]
    assert not upward, upward
    # cycles: depth-first search for a back edge
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(t) :] + [t]))
            if t not in state:
                visit(t, path + [t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert len(graph) > 60  # the walk saw the whole package
