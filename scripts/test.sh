#!/usr/bin/env bash
# The test command: lint, then the whole suite (node over real DDS, training, export, bags...).
# Extra arguments go to pytest, e.g. scripts/test.sh -k node.
# Two pytest-xdist workers (FANET_TEST_WORKERS; 0: no workers), one test file each at a time,
# so a module's node starts once; each worker has a ROS domain of its own (test/conftest.py).
# More workers than cores starve the tests that measure rates: the count stays at 2 unless asked.
# test/test_launch_files.py runs the launch files for real where launch_ros is importable: when
# ../shared/third_party/ros2_launch (ros2/launch and launch_ros sources) sits beside the clone,
# they are installed once into a folder of their own (FANET_LAUNCH_DIR) and put on PYTHONPATH.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
cd "$ROOT"
LAUNCH_SRC="$ROOT/../shared/third_party/ros2_launch"
LAUNCH_DIR="${FANET_LAUNCH_DIR:-$VENV/ros2_launch}"
if ! python -c "import launch_ros, ros2launch" 2>/dev/null && [ -d "$LAUNCH_SRC" ]; then
  if [ ! -d "$LAUNCH_DIR/ros2launch" ]; then
    echo "[test] installing ros2/launch and launch_ros from $LAUNCH_SRC into $LAUNCH_DIR"
    (cd "$LAUNCH_SRC" && python -m pip install -q --target "$LAUNCH_DIR" --no-deps \
      ./launch ./launch_xml ./launch_yaml ./launch_ros ./ros2launch ./composition_interfaces_stub \
      osrf-pycommon) || echo "[test] could not install launch: test_launch_files.py will skip"
  fi
  export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$LAUNCH_DIR"
fi
ruff check .
WORKERS="${FANET_TEST_WORKERS:-2}"
[ "$(nproc)" -ge 2 ] || WORKERS="${FANET_TEST_WORKERS:-0}"
python -m pytest -q -n "$WORKERS" --dist loadfile "$@"
