"""Ctrl-C and SIGTERM at any moment of the node's life: a quiet exit, never a traceback.

Importing this module first (as ``segmentation_node`` does, before its heavy
imports) installs handlers for SIGINT and SIGTERM when the process is the
node itself; a module that merely imports the node (a test, a benchmark)
keeps its own handlers. The handlers act by phase:

- ``starting`` (imports, parameters, model load): say so in one line on
  stderr and exit at once with the shell's convention, 128 + the signal
  number (130 for SIGINT, 143 for SIGTERM). Through ``SystemExit``, so that
  ``finally`` blocks still release what was built, except inside an import:
  import machinery (a native extension's initialisation above all) turns any
  exception into ``ImportError: initialization failed`` with a traceback, so
  there the process ends with ``os._exit`` (nothing to release yet but memory
  and sockets, which the system takes back). Where an exception raised by the
  handler is swallowed anyway (Python code called from native code),
  :data:`pending` still tells ``main`` to exit the same way;
- ``running``: nothing here; rclpy's own handler (it runs first and then
  calls this one) has shut the context down, so spinning ends and the node
  stops cleanly with exit code 0;
- ``stopping``: further signals (a terminal's Ctrl-C and ``ros2 launch``'s
  SIGINT arrive together) are ignored while the node shuts down.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM)
ENTRY_POINTS = ("segmentation_node", "fanet-segmentation-node", "segmentation_lifecycle_node",
                "fanet-segmentation-lifecycle-node")
"""Program names (``sys.argv[0]`` stems) whose start-up this module guards: the ROS
executables and ``python -m`` (``segmentation_node``, ``segmentation_lifecycle_node``) and
the pip console scripts."""

phase = "starting"
pending: int | None = None
"""The first signal received during start-up, if any."""


def exit_code() -> int | None:
    """128 + the signal received during start-up, or ``None``."""
    return None if pending is None else 128 + pending


def _importing(frame: FrameType | None) -> bool:
    """Whether ``frame`` runs inside an import (importlib's frames are on the stack)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global pending
    if phase != "starting":
        return
    code = 128 + signum
    if pending is None:
        pending = signum
        line = f"{Path(sys.argv[0]).stem}: {signal.Signals(signum).name} during start-up, " \
            f"exiting ({code})\n"
        os.write(2, line.encode())  # not sys.stderr: the signal may have cut a write to it short
    if _importing(frame):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, RuntimeError):  # RuntimeError: a reentrant flush
                pass
        os._exit(code)
    raise SystemExit(code)


def install() -> None:
    """Handle SIGINT and SIGTERM by phase (see the module docstring)."""
    for signum in HANDLED:
        signal.signal(signum, _on_signal)


def set_phase(name: str) -> None:
    """``starting``, ``running`` or ``stopping``."""
    global phase
    phase = name


def is_entry_point(argv0: str | None = None) -> bool:
    """Whether this process was started as one of :data:`ENTRY_POINTS`."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    return Path(argv0).stem in ENTRY_POINTS


if is_entry_point():
    install()
