#!/usr/bin/env bash
# Run sweep cells one after another on this machine, without Ray, at one torch thread each,
# and commit each finished cell's light files the moment it ends.
#
#   nohup benchmarks/run_cells.sh keycorridor-repro MiniGrid-KeyCorridorS3R1-v0-helm-s2 ... &
#
# Run directories go to benchmarks/results/cells/<spec>/<cell>/ and each log to <cell>.log beside
# it. Checkpoints, tb/ and the logs are git-ignored, so an interrupted cell resumes from its
# checkpoint on the same checkout, and only config.json, metrics.csv, cell.json and attempts.log
# are committed. Two such queues fit a 2-core machine; a third slows all of them
# (docs/performance.md, oversubscription).
# NO_COMMIT=1 leaves the files uncommitted.
set -u
if [ $# -lt 2 ]; then echo "usage: $0 SPEC CELL..." >&2; exit 2; fi
spec=$1; shift
cd "$(git rev-parse --show-toplevel)" || exit 2
toml=benchmarks/sweeps/$spec.toml
[ -f "$toml" ] || { echo "error: no sweep spec $toml" >&2; exit 2; }
out=benchmarks/results/cells/$spec
for cell in "$@"; do
  mkdir -p "$out"
  echo "$(date -Is) start $cell" >&2
  nice -n 5 .venv/bin/helmrl sweep "$toml" --out "$out" --cpus-per-run 1 --cell "$cell" \
    >>"$out/$cell.log" 2>&1
  rc=$?
  echo "$(date -Is) end $cell rc=$rc" >&2
  [ "$rc" = 0 ] && [ -f "$out/$cell/cell.json" ] || continue
  [ "${NO_COMMIT:-0}" = 1 ] && continue
  files=()
  for f in config.json metrics.csv cell.json attempts.log; do
    [ -f "$out/$cell/$f" ] && files+=("$out/$cell/$f")
  done

  for try in 1 2 3 4 5 6 7 8 9 10; do  # another git command may hold the index lock
    git add -- "${files[@]}" && git commit -q --only -m "Sweep cell $spec/$cell" -- "${files[@]}" && break
    sleep 5
  done
done
