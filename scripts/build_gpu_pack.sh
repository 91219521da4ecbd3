#!/usr/bin/env bash
# Build the offline GPU training pack (Keras wheels + training code + re-encoded dataset, <= 64 MiB)
# with the project's venv. Usage: scripts/build_gpu_pack.sh OUT_DIR --dataset-root DIR --layout camvid
#   [--python-version 3.12] [--wheels DIR | --wheels-from-installed]   (see docs/training.md)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
python -m fanet_training.gpu_pack build "$@"
