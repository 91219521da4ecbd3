"""Ctrl-C and SIGTERM at any moment of the node's life: a quiet exit, never a traceback.

Importing this module first (as ``segmentation_node`` does, before its heavy
imports) installs handlers for SIGINT and SIGTERM when the process is the
node itself; a module that merely imports the node (a test, a benchmark)
keeps its own handlers. The handlers act by phase:

- ``starting`` (imports, parameters, model load): exit at once with the
  shell's convention, 128 + the signal number (130 for SIGINT, 143 for
  SIGTERM), through ``SystemExit`` so ``finally`` blocks still release what
  was built;
- ``running``: nothing here; rclpy's own handler (it runs first and then
  calls this one) has shut the context down, so spinning ends and the node
  stops cleanly with exit code 0;
- ``stopping``: further signals (a terminal's Ctrl-C and ``ros2 launch``'s
  SIGINT arrive together) are ignored while the node shuts down.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM)
ENTRY_POINTS = ("segmentation_node",)
"""Program names (``sys.argv[0]`` stems) whose start-up this module guards."""

phase = "starting"


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if phase == "starting":
        raise SystemExit(128 + signum)


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
