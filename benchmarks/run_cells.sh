#!/usr/bin/env bash
# Run sweep cells one after another on this machine, without Ray, at one torch thread each,
# from a frozen export of a committed tree, and commit each finished cell's light files the
# moment it ends.
#
#   nohup benchmarks/run_cells.sh randommaze-repro RandomMaze-v0-cnn-s0 RandomMaze-v0-cnn-s1 &
#
# A spec with runner = "sb3_peer" runs its cells with experiments/sb3_peer.py (outside peers).
# A CELL of the form A,B,C is a seed group sharing one frozen LM (`helmrl sweep --batch-seeds`;
# `helmrl sweep SPEC --list --batch-seeds` prints the groups).
# - The code: HEAD, exported once to $CELLS_ROOT/src/<commit>/ (default CELLS_ROOT: ~/cells), so
#   edits to the checkout never reach a running queue. A dirty checkout is refused. A cell that
#   already has an attempts.log resumes on the commit it last ran on, unless CELL_COMMIT names one.
# - The run directories: $CELLS_ROOT/<spec>/<cell>/, outside the checkout, so a cell resumes from
#   its checkpoint on the same machine whatever happens to the checkout; each log is <cell>.log.
# - The record: a finished cell's config.json, metrics.csv, cell.json and attempts.log are copied
#   to benchmarks/results/cells/<spec>/<cell>/ and committed (NO_COMMIT=1: copied, not committed).
# Two such queues fit a 2-core machine; a third slows all of them (docs/performance.md).
set -u
if [ $# -lt 2 ]; then echo "usage: $0 SPEC CELL..." >&2; exit 2; fi
spec=$1; shift
cd "$(git rev-parse --show-toplevel)" || exit 2
repo=$PWD
root=${CELLS_ROOT:-$HOME/cells}
out=$root/$spec
record=benchmarks/results/cells/$spec
head=$(git rev-parse --short=10 HEAD)

export_commit() {  # the tree of commit $1, once, under $root/src/$1
  local src=$root/src/$1
  if [ ! -f "$src/.exported" ]; then
    rm -rf "$src" && mkdir -p "$src" && git archive "$1" | tar -x -C "$src" && touch "$src/.exported" \
      || { echo "error: cannot export commit $1" >&2; return 1; }
  fi
  echo "$src"
}

# A new cell runs HEAD as it is now, so the checkout must be clean now; later edits cannot reach the
# queue (it runs the export), so it goes on whatever happens to the checkout.
if [ -z "${CELL_COMMIT:-}" ] && [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  fresh=0
  for cell in "$@"; do [ -f "$out/${cell%%,*}/attempts.log" ] || fresh=1; done
  if [ "$fresh" = 1 ]; then
    echo "error: the checkout has uncommitted changes; a new cell starts only from a committed tree" >&2
    exit 2
  fi
fi

for cell in "$@"; do
  mkdir -p "$out"
  commit=${CELL_COMMIT:-$head}
  first=${cell%%,*}
  if [ -n "${CELL_COMMIT:-}" ]; then
    :  # the code given, resumed cells included
  elif [ -f "$out/$first/attempts.log" ]; then
    commit=$(grep -o 'commit=[0-9a-f]*' "$out/$first/attempts.log" | tail -1 | cut -d= -f2)
    [ -n "$commit" ] || commit=$head
  fi
  src=$(export_commit "$commit") || exit 2
  [ -f "$src/benchmarks/sweeps/$spec.toml" ] || { echo "error: no sweep spec $spec at $commit" >&2; exit 2; }
  echo "$(date -Is) start $cell at $commit" >&2
  if grep -q '^runner *= *"sb3_peer"' "$src/benchmarks/sweeps/$spec.toml"; then  # outside peers
    run=("$src/experiments/sb3_peer.py" --spec "$src/benchmarks/sweeps/$spec.toml" --out "$out" --torch-threads 1)
  else
    run=(-m helmrl.cli sweep "$src/benchmarks/sweeps/$spec.toml" --out "$out" --cpus-per-run 1)
    case $cell in *,*) run+=(--batch-seeds) ;; esac
  fi
  HELMRL_COMMIT=$commit PYTHONPATH=$src/src nice -n 5 "$repo/.venv/bin/python" "${run[@]}" --cell "$cell" \
    >>"$out/$first.log" 2>&1
  rc=$?
  echo "$(date -Is) end $cell rc=$rc" >&2
  [ "$rc" = 0 ] || continue
  files=()
  for one in ${cell//,/ }; do
    [ -f "$out/$one/cell.json" ] || continue
    mkdir -p "$record/$one"
    for f in config.json metrics.csv cell.json attempts.log; do  # not checkpoints, models or tb/
      [ -f "$out/$one/$f" ] && cp "$out/$one/$f" "$record/$one/$f" && files+=("$record/$one/$f")
    done
  done
  [ "${#files[@]}" -gt 0 ] && [ "${NO_COMMIT:-0}" != 1 ] || continue
  # a cell whose record is already committed as it is (a finished cell named again): nothing to do
  [ -n "$(git status --porcelain -- "${files[@]}")" ] || continue
  for try in 1 2 3 4 5 6 7 8 9 10; do  # another git command may hold the index lock
    git add -- "${files[@]}" && git commit -q --only -m "Sweep cell $spec/${cell//,/, }" -- "${files[@]}" && break
    sleep 5
  done
done
