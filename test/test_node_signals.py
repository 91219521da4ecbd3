"""Ctrl-C and SIGTERM at any moment of the node's life, on a real process: no traceback, the
conventional exit code (128 + signal during start-up, 0 once running). A SIGINT during the
first ~2.3 s of start-up used to print a traceback, 5 of 5."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from ros_harness import start_node_process, wait_for
from tiny_model import build_tiny_model

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
    if line is None:
        time.sleep(delay)
    else:
        assert wait_for(lambda: line in log.read_text(), 60.0, interval=0.01), log.read_text()
    assert proc.poll() is None, log.read_text()
    proc.send_signal(signum)
    code = proc.wait(timeout=30)
    return code, log.read_text()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_the_imports_exits_quietly_with_128_plus_the_signal(
    tmp_path, tiny_model, signum
):
    code, text = _run_until(tmp_path, tiny_model, None, 0.5, signum)
    assert code == 128 + signum, text
    assert "Traceback" not in text and "backend:" not in text  # stopped before the model


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
    assert proc.wait(timeout=30) == 0, log.read_text()
    assert "Traceback" not in log.read_text()
