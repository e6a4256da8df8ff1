"""A setting's path from its CLI flag to the code that uses it: ``--mem-len`` reaches the LM
memory through few modules, one after another, and never comes back to one it left."""

import sys

from helmrl.cli import main

MEM_LEN = 37  # a value no other argument of the run takes


def _holds(value: object) -> bool:  # the value itself, or the command line that gives it
    if type(value) is list:
        return any(_holds(v) for v in value)
    return (type(value) is int and value == MEM_LEN) or (type(value) is str and value == str(MEM_LEN))


def test_mem_len_passes_cli_config_stage_memory_in_order(tiny_llama_dir, tmp_path):
    path: list[str] = []

    def tracer(frame, event, arg):  # every helmrl function called with the value as an argument
        module = frame.f_globals.get("__name__") or ""
        if event == "call" and module.startswith("helmrl"):
            code = frame.f_code
            names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
            if any(_holds(frame.f_locals.get(n)) for n in names) and (not path or path[-1] != module):
                path.append(module)

    argv = ["train", "--env-id", "RandomMaze-v0", "--agent", "helm", "--lm", str(tiny_llama_dir)]
    argv += ["--mem-len", str(MEM_LEN), "--n-envs", "2", "--rollout-steps", "8", "--total-steps", "16"]
    argv += ["--run-dir", str(tmp_path / "run"), "--no-progress", "--frozen-dtype", "float32"]
    sys.settrace(tracer)
    try:
        assert main(argv) == 0
    finally:
        sys.settrace(None)
    assert path == [
        "helmrl.cli",
        "helmrl.frozen.history_config",
        "helmrl.frozen.history_stage",
        "helmrl.frozen.lm_memory",
    ]
