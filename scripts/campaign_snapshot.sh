#!/usr/bin/env bash
# Commit the campaign's resumable state, so the next stretch of work finds it even on a new
# machine: for every unfinished run folder under SOURCE/campaign/ that has finished more epochs
# than this checkout's copy, copy in what resuming needs and commit it. SOURCE is the checkout
# (a git worktree) that runs scripts/campaign.sh; default this one. Run it often while a long
# stage trains: a stretch of work that ends loses the epochs since the last snapshot.
#
#   bash scripts/campaign_snapshot.sh ../campaign_wt
#
# The running stage (pid in SOURCE/campaign/RUNNING) is paused with SIGSTOP while its files are
# read, at a moment when state.json is the newest of them and names no file still to move
# (fanet_training/run_state.py: commit_epoch), so checkpoint, weight average and state are of
# one epoch; SIGCONT follows at once.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SOURCE="$(cd "${1:-$HERE}" && pwd)"
OBSOLETE_FILES=(optimizer.npz)  # the checkpoint holds the optimizer state now

json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]))' "$@"; }

resume_files() {  # resume_files RUN_DIR: what resuming the run needs, one per line
  printf '%s\n' config.json class_weights.json state.json train.log checkpoint.weights.h5 ema.npz
  if [ "$(json_field "$1/config.json" select)" = best ]; then
    echo best.weights.h5  # the best epoch may lie before the last: keep its weights
  fi
}

consistent() {  # consistent RUN_DIR: no epoch file is newer than state.json, none to move
  [ -z "$(find "$1" -maxdepth 1 \( -name '*.h5' -o -name '*.npz' \) -newer "$1/state.json")" ] &&
    [ "$(json_field "$1/state.json" pending)" = None ]
}

pause() { [ -z "$PID" ] || kill "-$1" "$PID" 2>/dev/null || true; }

snapshot() {  # snapshot NAME: stage campaign/NAME's resumable files of one epoch in this checkout
  local src="$SOURCE/campaign/$1" dest="$HERE/campaign/$1" tries=0 f
  local files
  mapfile -t files < <(resume_files "$src")
  until pause STOP; consistent "$src"; do
    pause CONT
    tries=$((tries + 1))
    if [ "$tries" -gt 60 ]; then
      echo "[snapshot] $src: state.json stays older than its checkpoint or names files to" \
        "move (a killed run: resuming it completes them)" >&2
      return 1
    fi
    sleep 2
  done
  mkdir -p "$dest"
  for f in "${files[@]}"; do
    if [ -f "$src/$f" ] && [ "$src" != "$dest" ]; then cp "$src/$f" "$dest/$f"; fi
    if [ -f "$dest/$f" ]; then git add -f -- "campaign/$1/$f"; fi
  done
  pause CONT
  for f in "${OBSOLETE_FILES[@]}"; do
    git rm -q --cached --ignore-unmatch -- "campaign/$1/$f"
    rm -f "$dest/$f"
  done
}

cd "$HERE"
if ! git diff --cached --quiet; then
  echo "[snapshot] the index holds staged changes: commit or unstage them first" >&2
  exit 1
fi
PID=""
if [ -f "$SOURCE/campaign/RUNNING" ]; then PID="$(cut -d' ' -f1 "$SOURCE/campaign/RUNNING")"; fi
committed=0
for src in "$SOURCE"/campaign/*/; do
  name="$(basename "$src")"
  [ -f "$src/state.json" ] && [ -f "$src/checkpoint.weights.h5" ] || continue  # unfinished only
  dest="$HERE/campaign/$name"
  if [ "$SOURCE" != "$HERE" ] && [ -f "$dest/state.json" ] &&
     [ "$(json_field "$src/state.json" epoch)" -le "$(json_field "$dest/state.json" epoch)" ]; then
    continue  # this checkout has that epoch already
  fi
  snapshot "$name"
  if git diff --cached --quiet -- "campaign/$name"; then continue; fi
  epoch="$(json_field "$dest/state.json" epoch)"
  git commit -q -m "campaign: $name resumable state at epoch $epoch (bash scripts/campaign.sh resumes it)"
  echo "[snapshot] $name: epoch $epoch committed ($(git rev-parse --short HEAD))"
  committed=$((committed + 1))
done
if [ "$committed" = 0 ]; then echo "[snapshot] nothing newer to commit"; fi
