#!/usr/bin/env bash
# The test command: lint, then the whole suite (node over real DDS, training, export, bags...).
# Extra arguments go to pytest, e.g. scripts/test.sh -k node.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
cd "$ROOT"
ruff check .
python -m pytest -q "$@"
