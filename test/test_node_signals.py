"""Ctrl-C and SIGTERM at any moment of the node's life, on a real process: no traceback, the
conventional exit code (128 + signal during start-up, 0 once running), for every launcher.
A SIGINT during the first ~2.3 s of start-up used to print a traceback, 5 of 5; the pip
command installed no handler at all (tracebacks, rc -15); a SIGTERM in the middle of
``import onnxruntime`` became ``ImportError: initialization failed`` (1 suite run in 3)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from ros_harness import exit_code, start_node_process, wait_for
from tiny_model import build_tiny_model

from fanet_ros.evaluation.node_process import node_command

REPO = Path(__file__).resolve().parents[1]
LAUNCHERS = {
    "python -m": lambda args: args,
    "pip command": lambda args: [str(Path(sys.executable).with_name("fanet-segmentation-node")),
                                 *args[3:]],
    "ros executable": lambda args: [sys.executable, str(REPO / "ros_executables/segmentation_node"),
                                    *args[3:]],
    "lifecycle node": lambda args: [
        sys.executable, str(REPO / "ros_executables/segmentation_lifecycle_node"), *args[3:]],
}
"""``[python, -m, module, --ros-args, ...]`` as each launcher starts the node."""
IMPORT_DELAYS = (0.0, 0.25, 0.5, 0.8)
"""Seconds after the start-up handler is installed: spread over the imports (about 1.5 s
here, rclpy, cv2 and onnxruntime among them); the slow model keeps start-up going past them."""
ROUNDS = int(os.environ.get("FANET_SIGNAL_ROUNDS", "1"))
"""Repeat each start-up case this many times (a by-hand soak: ``FANET_SIGNAL_ROUNDS=5``)."""
QUIET_EXIT = "during start-up, exiting"
SLOW_LOAD_NODES = 8000
"""Chained operators that make ONNX Runtime take about a second to open the model."""


def build_slow_loading_model(path: Path) -> Path:
    """The tiny model plus a long chain of data-dependent operators that ONNX Runtime must
    walk at session creation: a model load wide enough to be interrupted on purpose."""
    build_tiny_model(path)
    model = onnx.load(str(path))
    graph = model.graph
    output = graph.output[0]
    graph.initializer.append(numpy_helper.from_array(np.zeros((), np.float32), "zero"))
    graph.node.append(helper.make_node("ReduceMax", ["image"], ["link0"], keepdims=0))
    graph.node.extend(helper.make_node("Sin", [f"link{i}"], [f"link{i + 1}"])
                      for i in range(SLOW_LOAD_NODES))
    graph.node.extend([
        helper.make_node("Mul", [f"link{SLOW_LOAD_NODES}", "zero"], ["nothing"]),
        helper.make_node("Add", [output.name, "nothing"], ["scores"]),
    ])
    output.name = "scores"
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def slow_model(tmp_path_factory) -> Path:
    return build_slow_loading_model(tmp_path_factory.mktemp("models") / "slow.onnx")


def _run_until(tmp_path: Path, model: Path, line: str | None, delay: float, signum: int):
    """Start the node, wait for ``line`` in its log (or ``delay`` s), send ``signum``."""
    log = tmp_path / f"node_{signum}_{line}.log"
    proc = start_node_process({"model_path": str(model), "backend": "onnxruntime"},
                              log_path=log)
    try:
        if line is None:
            time.sleep(delay)
        else:
            assert wait_for(lambda: line in log.read_text(), 60.0, interval=0.01), log.read_text()
        assert proc.poll() is None, log.read_text()
        proc.send_signal(signum)
        code = proc.wait(timeout=30)
    finally:  # a failed check leaves no node behind to disturb the next tests
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, log.read_text()


def _catches(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has a handler for ``signum`` (``SigCgt`` in /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) >> (signum - 1) & 1)


def _signal_during_start_up(tmp_path: Path, launcher: str, model: Path, delay: float,
                            signum: int) -> tuple[int, str]:
    """Start the node, send ``signum`` ``delay`` s after its start-up handler is in place."""
    log = tmp_path / f"node_{signum}_{delay}.log"
    args = LAUNCHERS[launcher](node_command({"model_path": str(model),
                                             "backend": "onnxruntime"}))
    with log.open("w") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        # SIGTERM is caught once fanet_ros.node.startup_signals is installed (Python does not)
        assert wait_for(lambda: _catches(proc.pid, signal.SIGTERM) or proc.poll() is not None,
                        60.0, interval=0.005), "no start-up handler"
        time.sleep(delay)
        assert proc.poll() is None, log.read_text()
        proc.send_signal(signum)
        return proc.wait(timeout=30), log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize(("launcher", "delay"), [
    *(("python -m", delay) for delay in IMPORT_DELAYS),
    ("pip command", 0.4),
    ("ros executable", 0.4),
    ("lifecycle node", 0.1),  # no model to load before it runs: signalled during the imports
])
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_signal_during_start_up_exits_with_one_line_and_128_plus_the_signal(
    tmp_path, slow_model, launcher, delay, signum, round_
):
    code, text = _signal_during_start_up(tmp_path, launcher, slow_model, delay, signum)
    assert code == 128 + signum, text
    assert "Traceback" not in text and "Error" not in text, text
    assert text.count(QUIET_EXIT) == 1, text
    assert "listening on" not in text, text


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_the_model_load_exits_quietly_with_128_plus_the_signal(
    tmp_path, slow_model, signum
):
    code, text = _run_until(tmp_path, slow_model, "backend: onnxruntime", 0.0, signum)
    assert code == 128 + signum, text
    assert "Traceback" not in text and "listening on" not in text


@pytest.mark.parametrize("signals", [[signal.SIGTERM], [signal.SIGINT, signal.SIGINT]])
def test_signals_once_running_stop_the_node_cleanly_with_0(tmp_path, tiny_model, signals):
    """SIGTERM (a service manager) or two SIGINTs at once (Ctrl-C in the terminal of
    ``ros2 launch``, which forwards its own)."""
    log = tmp_path / "node.log"
    proc = start_node_process({"model_path": str(tiny_model)}, log_path=log)
    assert wait_for(lambda: "listening on" in log.read_text(), 60.0), log.read_text()
    time.sleep(0.3)
    for signum in signals:
        proc.send_signal(signum)
    assert exit_code(proc) == 0, log.read_text()
    assert "Traceback" not in log.read_text()
