"""Command-line tools stop on SIGTERM as on Ctrl-C: their ``with`` blocks unwind, so child
processes are stopped and scratch folders removed, and the exit code says which signal."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager


def _exit_on(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """Within the block, SIGTERM raises ``SystemExit(143)`` (Python's default ends the process
    without unwinding anything). Main thread only, as ``signal.signal``."""
    previous = signal.signal(signal.SIGTERM, _exit_on)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupted(tool: str, exc: KeyboardInterrupt | SystemExit, left: str = "") -> int:
    """Say on stderr that ``tool`` was interrupted (and what it ``left`` undone); returns the
    exit code: 130 for Ctrl-C, the ``SystemExit`` code otherwise (143 for SIGTERM)."""
    if isinstance(exc, KeyboardInterrupt):
        code = 128 + signal.SIGINT
    else:
        code = exc.code if isinstance(exc.code, int) else 1
    print(f"{tool}: interrupted (exit {code}){'; ' + left if left else ''}", file=sys.stderr)
    return code
