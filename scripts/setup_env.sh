#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and install fanet_ros with every extra:
# the ROS 2 Kilted wheels from PyPI, ONNX Runtime, the training stack and the evaluation tools.
# Sourced by scripts/demo.sh and scripts/test.sh; FANET_VENV overrides the location (default .venv).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${FANET_VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtual environment $VENV"
  python3 -m venv "$VENV"
fi
STAMP="$VENV/.fanet_ros_installed"
# The checkout's path is part of the stamp: the install is editable, so a venv shared by two
# checkouts (FANET_VENV) must point at the one that uses it, not the one installed first.
HASH="$( (echo "$ROOT"; cat "$ROOT/setup.py" "$ROOT/setup.cfg" "$ROOT/pyproject.toml") |
  sha256sum | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$HASH" ]; then
  echo "[setup] installing fanet_ros[all] into $VENV (a minute or two on a fresh machine)"
  "$VENV/bin/python" -m pip install -q --upgrade pip setuptools wheel
  "$VENV/bin/python" -m pip install -q -e "$ROOT[all]"
  echo "$HASH" > "$STAMP"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
export PYTHONUNBUFFERED=1
