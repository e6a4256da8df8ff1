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


def test_errors_module_imports_nothing_heavy_and_every_raiser_uses_its_classes():
    assert _loaded("helmrl.errors", ("torch", "helmrl.config", "helmrl.models"))["loaded"] == []
    from helmrl import errors
    from helmrl.analysis import subject
    from helmrl.frozen import vision_encoder

    assert vision_encoder.VisionEncoderError is errors.VisionEncoderError
    assert subject.AnalysisError is errors.AnalysisError
    assert set(errors.BAD_INPUT) == {getattr(errors, n) for n in errors.__all__} - {
        errors.NonFiniteError,
        errors.BAD_INPUT,
    }


# Each package of helmrl and the layer it sits in: a module may import only from its own package or
# from a lower layer (lazy imports inside functions, and importlib.import_module of a module named
# in the source, included). Packages that share a layer may not import each other, except the
# pairs in MUTUAL. ``helmrl`` itself is the lazy public facade.
LAYERS = {
    "errors": 0, "observation_keys": 0, "registry": 0,
    "frozen": 1, "models": 1, "envs": 1,
    "devices": 2, "config": 2,
    "wrappers": 3,
    "build": 4,
    "ppo": 5,
    "runs": 6, "integrations": 6,
    "seed_group": 7,
    "analysis": 8, "sweep": 8,
    "cli": 9, "__main__": 10, "helmrl": 10,
}  # fmt: skip
# Modules that sit below their package: the learner's torch-free config, beside the other configs.
MODULE_LAYERS = {"helmrl.ppo.config": 1}
# The cell reports read sweep specs; a sweep's summary plots with analysis' curves and statistics.
MUTUAL = {("analysis", "sweep"), ("sweep", "analysis")}


def _module_names(tree, package: str) -> set[str]:
    """Modules named as strings where the module calls importlib.import_module: its literal
    argument, or the string values of its dicts (a lazy facade's name -> module table)."""
    import ast

    calls = [
        n for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "import_module"
    ]  # fmt: skip
    if not calls:
        return set()
    names = {c.args[0].value for c in calls if c.args and isinstance(c.args[0], ast.Constant)}
    for d in (n for n in ast.walk(tree) if isinstance(n, ast.Dict)):
        names |= {v.value for v in d.values if isinstance(v, ast.Constant) and isinstance(v.value, str)}
        names |= {
            v.elts[0].value for v in d.values
            if isinstance(v, ast.Tuple) and v.elts and isinstance(v.elts[0], ast.Constant)
        }  # fmt: skip
    out = set()
    for name in names:
        if not isinstance(name, str):
            continue
        if name.startswith("."):
            level = len(name) - len(name.lstrip("."))
            base = package.split(".")[: len(package.split(".")) - (level - 1)]
            out.add(".".join([*base, name.lstrip(".")]).strip("."))
        elif name.startswith("helmrl"):
            out.add(name)
    return out


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
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - max(node.level - 1, 0)]
                target = ".".join(base + [node.module or ""]).strip(".") if node.level else node.module or ""
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    graph[name].add(full if full in files else target)
            elif isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names)
        graph[name] |= _module_names(tree, package)
        graph[name] = {t for t in graph[name] if t in files and t != name}
    return graph


def _package_inits() -> list[tuple[str, Path]]:
    root = Path(__file__).parents[1] / "src" / "helmrl"
    inits = sorted(root.rglob("__init__.py"))
    return [(".".join(p.relative_to(root.parent).parent.parts), p) for p in inits]


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "helmrl"


def _layer(module: str) -> int:
    return MODULE_LAYERS.get(module, LAYERS[_package(module)])


def _allowed(module: str, target: str) -> bool:
    a, b = _package(module), _package(target)
    return a == b or _layer(target) < _layer(module) or (a, b) in MUTUAL


def test_the_import_graph_has_no_cycles_and_no_module_imports_from_its_layer_or_above():
    graph = _import_graph()
    bad = [f"{m} -> {t}" for m, ts in graph.items() for t in ts if not _allowed(m, t)]
    assert not bad, bad
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


def test_the_graph_sees_lazy_imports_by_name(tmp_path):
    """A module's importlib reach counts as an import: the lazy facades' tables are edges."""
    graph = _import_graph()
    assert "helmrl.runs" in graph["helmrl"]  # the front door's lazy table
    assert "helmrl.frozen.lm_memory" in graph["helmrl"] or "helmrl.frozen.history_stage" in graph["helmrl"]
    lazy = [m for m, path in _package_inits() if "__getattr__" in path.read_text()]
    assert lazy == ["helmrl"], f"one lazy front door, at top-level helmrl: {lazy}"
