"""Run the segmentation node as a child process for one evaluation."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

NODE_MODULE = "fanet_ros.node.segmentation_node"


class NodeProcessError(RuntimeError):
    """The node exited; the message holds the end of its log."""


def format_parameter(value: Any) -> str:
    """A Python value as a ``-p name:=value`` YAML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def node_command(
    parameters: dict[str, Any], remaps: dict[str, str] | None = None, namespace: str = "",
    module: str = NODE_MODULE,
) -> list[str]:
    """``python -m fanet_ros.node.segmentation_node --ros-args ...`` with ``-p`` parameters,
    ``-r`` remappings and a namespace: how evaluation, tests and benchmarks start the node
    (``module``: another node executable's, e.g. the lifecycle node's)."""
    args = [sys.executable, "-m", module, "--ros-args"]
    for name, value in parameters.items():
        args += ["-p", f"{name}:={format_parameter(value)}"]
    for source, target in (remaps or {}).items():
        args += ["-r", f"{source}:={target}"]
    if namespace:
        args += ["-r", f"__ns:={namespace}"]
    return args


class NodeProcess:
    """``python -m fanet_ros.node.segmentation_node --ros-args ...``; a context manager.

    ``image`` is remapped to ``image_topic``; output goes to ``log_path``.
    """

    def __init__(self, parameters: dict[str, Any], image_topic: str, log_path: Path) -> None:
        self.parameters = dict(parameters)
        self.log_path = Path(log_path)
        self.command = node_command(self.parameters, {"image": image_topic})
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> NodeProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def check_running(self) -> None:
        """Raise :class:`NodeProcessError` if the node has exited."""
        if self._process is not None and self._process.poll() is not None:
            raise NodeProcessError(
                f"the segmentation node exited with code {self._process.returncode}; "
                f"its log ({self.log_path}) ends with:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.strip().splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """Ctrl-C the node, and kill it if it does not exit within ``timeout`` s."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        except BaseException:  # a second Ctrl-C or SIGTERM while waiting: leave no node behind
            process.kill()
            process.wait()
            raise
