"""Helpers for tests that talk to a real segmentation_node over DDS."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from fanet_ros.evaluation.node_process import NODE_MODULE, node_command


def start_node_process(
    params: dict[str, Any],
    remaps: dict[str, str] | None = None,
    namespace: str = "",
    log_path: Path | None = None,
    env: dict[str, str] | None = None,
    module: str = NODE_MODULE,
) -> subprocess.Popen:
    """Start ``segmentation_node`` (or the node of ``module``) in its own process with
    ``--ros-args`` (``env``: extra environment variables). Its Python fault handler is on,
    so a node that :func:`stop_process` finds hung writes every thread's stack to its log."""
    args = node_command(params, remaps, namespace, module)
    out = open(log_path, "w") if log_path else subprocess.DEVNULL  # noqa: SIM115
    env = {"PYTHONFAULTHANDLER": "1", **os.environ, **(env or {})}
    return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)


READY = "listening on"
"""What segmentation_node logs once its subscriptions and publishers exist."""


class RunningNode(NamedTuple):
    proc: subprocess.Popen
    log: Path


@contextmanager
def running_node(
    params: dict[str, Any],
    log_path: Path,
    remaps: dict[str, str] | None = None,
    namespace: str = "",
    env: dict[str, str] | None = None,
    ready_timeout: float = 60.0,
) -> Iterator[RunningNode]:
    """``segmentation_node`` in its own process, waited for: the body runs once the node has
    logged :data:`READY` (a node that exits or never gets there fails with its log); then it
    is stopped with SIGINT and must exit 0."""
    proc = start_node_process(params, remaps, namespace, log_path, env)
    try:
        ready = wait_for(lambda: proc.poll() is not None or READY in log_path.read_text(),
                         ready_timeout, interval=0.1)
        assert ready and proc.poll() is None, f"the node did not start:\n{log_path.read_text()}"
        yield RunningNode(proc, log_path)
    except BaseException:
        stop_process(proc)
        raise
    code = stop_process(proc)
    assert code == 0, log_path.read_text()


def camera_node(log_dir: Path, model: Path, namespace: str, **params: Any
                ) -> Iterator[RunningNode]:
    """The usual node of a test module, for ``yield from`` in a fixture: ``model`` in
    ``namespace``, its camera remapped to ``{namespace}/camera/image``, /diagnostics every
    0.2 s; ``params`` add to those (or replace them)."""
    with running_node({"model_path": str(model), "diagnostics_period": 0.2, **params},
                      log_dir / "node.log", remaps={"image": f"{namespace}/camera/image"},
                      namespace=namespace) as node:
        yield node


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """SIGINT (as ros2 launch does), then :func:`_abort` if it hangs; returns the exit code
    (-6 after SIGABRT)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _abort(proc)
    return proc.returncode


def _abort(proc: subprocess.Popen) -> None:
    """End a hung process: SIGABRT (with ``PYTHONFAULTHANDLER=1`` it writes every thread's
    stack first), then kill if even that hangs."""
    proc.send_signal(signal.SIGABRT)
    try:
        proc.wait(5.0)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def exit_code(proc: subprocess.Popen, timeout: float = 30.0) -> int:
    """The exit code of a process expected to end by itself; past ``timeout`` it is ended by
    :func:`_abort` (nothing left running to disturb the next tests) and the test fails."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _abort(proc)
        raise AssertionError(f"{proc.args!r:.200} still ran after {timeout} s") from None


class SpinningNode:
    """An rclpy node spun by an executor on a background thread (context-managed)."""

    def __init__(self, name: str = "test_client") -> None:
        if not rclpy.ok():
            rclpy.init()
        self.node = Node(name)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._stop = False

    def _spin(self) -> None:
        while not self._stop and rclpy.ok():
            self.executor.spin_once(timeout_sec=0.05)

    def __enter__(self) -> SpinningNode:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self._thread.join(timeout=2.0)
        self.executor.remove_node(self.node)
        self.node.destroy_node()


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; return it (or the last falsy)."""
    deadline = time.monotonic() + timeout
    result = predicate()
    while not result and time.monotonic() < deadline:
        time.sleep(interval)
        result = predicate()
    return result


class DiagnosticsProbe:
    """The newest /diagnostics status of one node, as a key -> value dict."""

    def __init__(self, node: Node, status_name: str) -> None:
        from diagnostic_msgs.msg import DiagnosticArray

        self.status_name = status_name
        self.latest: dict[str, str] = {}
        self.level = -1
        self.message = ""
        self.seen: list[tuple[int, str, dict[str, str]]] = []
        """Every (level, message, values) received, oldest first."""
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_array, 10)

    def _on_array(self, array: Any) -> None:
        for status in array.status:
            if status.name == self.status_name:
                values = {kv.key: kv.value for kv in status.values}
                level = status.level if isinstance(status.level, int) else ord(status.level)
                self.latest, self.level, self.message = values, level, status.message
                self.seen.append((level, status.message, values))

    def status_after(self, predicate: Callable[[dict[str, str]], Any],
                     timeout: float = 20.0) -> dict[str, str]:
        """The first status (polled) for which ``predicate`` holds; ``{}`` on timeout."""
        return wait_for(lambda: (s := dict(self.latest)) and predicate(s) and s, timeout) or {}

    def seen_since(self, since: int, predicate: Callable[[dict[str, str]], Any],
                   timeout: float = 20.0) -> tuple[int, str, dict[str, str]] | None:
        """The first ``(level, message, values)`` from ``seen[since:]`` whose values satisfy
        ``predicate``, waiting for it: a state that lasts a moment is found even when this
        process looks late."""
        def found() -> tuple[int, str, dict[str, str]] | None:
            return next((entry for entry in self.seen[since:] if predicate(entry[2])), None)

        return wait_for(found, timeout)


def start_frame_counter(topic: str, seconds: float, reliability: str) -> subprocess.Popen:
    """A plain rclpy subscriber in its own process (default DDS settings) that prints how many
    ``sensor_msgs/Image`` frames reached it: what the transport delivers to anyone. It counts
    for ``seconds`` at most; closing its stdin (``communicate()``) stops it sooner."""
    script = Path(__file__).with_name("frame_counter.py")
    return subprocess.Popen(
        [sys.executable, str(script), topic, str(seconds), reliability],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )


def wait_for_service_replies(client: Any, timeout: float = 30.0, attempt: float = 3.0) -> None:
    """Wait until ``client`` gets replies, not only until its service is discovered.

    ``wait_for_service`` sees the server's request reader; the reply travels the other
    way, and a reply sent before the server has matched the client's reply reader is
    lost (a call then never completes). An empty request (harmless for the parameter
    services) is sent until one is answered.
    """
    assert client.wait_for_service(timeout_sec=timeout), f"no {client.srv_name} service"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        future = client.call_async(client.srv_type.Request())
        if wait_for(future.done, attempt):
            return
        client.remove_pending_request(future)
    raise AssertionError(f"{client.srv_name} never replied within {timeout} s")
