#!/usr/bin/env bash
# Move unfinished sweep cells to another machine: pack the files a cell resumes from into one
# archive, and unpack them there under the same run directories.
#
#   benchmarks/carry_cells.sh pack ARCHIVE [SPEC...]   # every unfinished cell (of SPECs) under CELLS_ROOT
#   benchmarks/carry_cells.sh unpack ARCHIVE           # into CELLS_ROOT, then run the same run_cells.sh line
#   benchmarks/carry_cells.sh list ARCHIVE             # the run directories in it
#
# A cell resumes from checkpoint.pt and config.json (helmrl.sweep.runner); metrics.csv, attempts.log
# and cell.json carry its log, the commit it runs on and each machine's wall time (cell.json keeps
# one record per machine), so a carried cell's record is as complete as one that never moved.
# TensorBoard files and saved models stay behind. A finished cell (it has cell.json and every update
# logged) is not packed: run_cells.sh has already committed its light files.
# Unpacking never goes backwards: a run directory here that has logged as many updates or more is
# kept as it is.
set -eu
root=${CELLS_ROOT:-$HOME/cells}
usage() { echo "usage: $0 pack ARCHIVE [SPEC...] | unpack ARCHIVE | list ARCHIVE" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1 archive=$2; shift 2
updates() {  # the last logged update of run dir $1 (0 without metrics)
  [ -f "$1/metrics.csv" ] && tail -n +2 "$1/metrics.csv" | tail -1 | cut -d, -f1 | grep -E '^[0-9]+$' || echo 0
}
case $cmd in
pack)
  [ -d "$root" ] || { echo "error: no cells under $root" >&2; exit 2; }
  specs=("$@")
  [ ${#specs[@]} -gt 0 ] || mapfile -t specs < <(cd "$root" && ls -d -- */ | tr -d / | grep -v '^src$')
  files=()
  for spec in "${specs[@]}"; do
    [ -d "$root/$spec" ] || { echo "error: no spec folder $root/$spec" >&2; exit 2; }
    for dir in "$root/$spec"/*/; do
      dir=${dir%/}
      [ -f "$dir/checkpoint.pt" ] && [ -f "$dir/config.json" ] || continue
      total=$(python3 -c "import json,sys; c=json.load(open(sys.argv[1])); print(c['total_steps']//(c['n_envs']*c['rollout_steps']))" "$dir/config.json")
      [ "$(updates "$dir")" -lt "$total" ] || continue
      for f in checkpoint.pt config.json metrics.csv attempts.log cell.json; do
        [ -f "$dir/$f" ] && files+=("${dir#"$root"/}/$f")
      done
      echo "pack ${dir#"$root"/} at update $(updates "$dir") of $total" >&2
    done
  done
  [ ${#files[@]} -gt 0 ] || { echo "error: no unfinished cell with a checkpoint under $root" >&2; exit 1; }
  mkdir -p "$(dirname "$archive")"
  tar -C "$root" -czf "$archive.tmp" -- "${files[@]}" && mv "$archive.tmp" "$archive"
  echo "wrote $archive ($(du -h "$archive" | cut -f1))" >&2
  ;;
unpack)
  [ -f "$archive" ] || { echo "error: no archive $archive" >&2; exit 2; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  tar -C "$tmp" -xzf "$archive"
  for dir in $(cd "$tmp" && find . -name config.json -printf '%h\n' | sed 's|^\./||' | sort); do
    here=$root/$dir
    if [ -d "$here" ] && [ "$(updates "$here")" -ge "$(updates "$tmp/$dir")" ]; then
      echo "keep $dir: here at update $(updates "$here"), archive at $(updates "$tmp/$dir")" >&2
      continue
    fi
    mkdir -p "$here" && cp -p "$tmp/$dir"/* "$here"/
    echo "unpack $dir at update $(updates "$here")" >&2
  done
  ;;
list)
  tar -tzf "$archive" | grep '/config.json$' | sed 's|/config.json$||'
  ;;
*) usage ;;
esac
