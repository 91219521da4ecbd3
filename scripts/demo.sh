#!/usr/bin/env bash
# The main job: install, start the node on a shipped model, play a generated drive through real
# topics and write the evaluation report (mIoU, latency, overlays). Arguments go to `fanet-demo`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
cd "$ROOT"
python -m fanet_ros.evaluation.demo "$@"
