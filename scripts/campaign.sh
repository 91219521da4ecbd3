#!/usr/bin/env bash
# The training campaign of issue #22: recipe comparisons on a held-out drive, then the long
# runs that ship fanet_camvid and fsffnet_camvid. Every stage is a fanet-train run folder under
# campaign/ in the repository, so the next stretch of work (even on a new machine) finds the
# state. Re-running this script resumes the first unfinished stage after its last finished
# epoch (weights, optimizer, epoch, data order) and skips finished ones.
#
#   bash scripts/campaign.sh                 # every stage in order
#   bash scripts/campaign.sh recipe_b        # one stage
#
# Pause a stage with SIGSTOP / SIGCONT (its pid is in campaign/RUNNING); a kill loses at most
# the epoch in progress. CAMPAIGN_ROOT: the checkout whose campaign/ folder holds the state
# (default: this one; run the code from a separate worktree and point this at the main one).
# The state reaches the next machine only when committed: scripts/campaign_snapshot.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
cd "${CAMPAIGN_ROOT:-$ROOT}"
# shellcheck source=campaign_stages.sh
source "$ROOT/scripts/campaign_stages.sh"

finished() {  # finished RUN_DIR: its state has reached the epochs its config asks for
  python - "$1" <<'PY'
import json, sys, pathlib
run = pathlib.Path(sys.argv[1])
done = (run / "state.json").is_file() and json.loads((run / "state.json").read_text())[
    "epoch"] >= json.loads((run / "config.json").read_text())["epochs"]
sys.exit(0 if done else 1)
PY
}

camvid_again() {  # camvid_again DIR: links to CamVid's train frames outside the held-out drive
  local dir="$1" split frame
  rm -rf "$dir.partial"
  for split in train trainannot; do
    mkdir -p "$dir.partial/$split"
    for frame in "$CAMVID/$split"/*; do
      [[ "$(basename "$frame")" == "$HOLDOUT"_* ]] || ln -s "$(realpath "$frame")" "$dir.partial/$split/"
    done
  done
  mv "$dir.partial" "$dir"
}

run_stage() {  # run_stage NAME
  local name="$1" run_dir="campaign/$1"
  # shellcheck disable=SC2206
  local args=("${COMMON[@]}" ${STAGES[$name]})
  if ! finished "$run_dir"; then
    local i
    for i in "${!args[@]}"; do  # a teacher from a campaign run, exported from its weights
      if [ "${args[$i]}" = --distill-from ] && [ ! -f "${args[$((i + 1))]}" ]; then
        fanet-export "$(dirname "${args[$((i + 1))]}")" --output "${args[$((i + 1))]}"
      fi
      # generated streets: written again, the same scenes, wherever they are missing
      if [ "${args[$i]}" = --extra-train-root ] && [ "${args[$((i + 1))]}" = "$SYNTHETIC" ] \
          && [ ! -d "$SYNTHETIC/train" ]; then
        python -m fanet_ros.synthetic --out "$SYNTHETIC" "${SYNTHETIC_SCENES[@]}"
      fi
      if [ "${args[$i]}" = --extra-train-root ] && [ "${args[$((i + 1))]}" = "$CAMVID_AGAIN" ] \
          && [ ! -d "$CAMVID_AGAIN/train" ]; then
        camvid_again "$CAMVID_AGAIN"
      fi
    done
    echo "[campaign] $name: fanet-train ${args[*]} --run-dir $run_dir"
    mkdir -p "$run_dir"
    fanet-train "${args[@]}" --run-dir "$run_dir" >> "$run_dir/train.log" 2>&1 &
    echo "$! $name" > campaign/RUNNING
    wait $!
    rm -f campaign/RUNNING
  fi
  echo "[campaign] $name: finished"
  if [[ "$name" == recipe_* ]]; then
    # How the comparison's weights hold up on the held-out drive, degraded; then drop them.
    if [ ! -f "$run_dir/robustness.json" ] && [ -f "$run_dir/best.weights.h5" ]; then
      fanet-export "$run_dir" --output "$run_dir/model.onnx" --head logits
      fanet-robustness "$run_dir/model.onnx" --dataset-root "$CAMVID" --split train \
        --drives "$HOLDOUT" --output "$run_dir/robustness.json"
    fi
    rm -f "$run_dir"/*.weights.h5 "$run_dir"/ema.npz "$run_dir/model.onnx"
  fi
}

for name in "${@:-${ORDER[@]}}"; do
  [ -n "${STAGES[$name]+x}" ] || { echo "unknown stage $name; known: ${ORDER[*]}" >&2; exit 2; }
  run_stage "$name"
done
