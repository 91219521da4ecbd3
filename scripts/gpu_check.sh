#!/usr/bin/env bash
# The first run on a GPU machine (Jetson Orin or an x86 desktop with TensorRT): check_engine --full
# on the shipped model, then the GPU tests, one PASS / FAIL / SKIP line per step.
# Run from a clone, in the Python environment that has fanet_ros, TensorRT and cuda-python:
#   bash scripts/gpu_check.sh                     # everything
#   bash scripts/gpu_check.sh -- --precision fp32  # options for check_engine --full after --
# Exit status: 0 all passed, 1 a step failed, 2 a step was skipped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec "${PYTHON:-python3}" -m fanet_ros.tensorrt.gpu_check "$@"
