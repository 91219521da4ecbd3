"""Per-frame findings the node tells the user about: a count each, and a throttled log line.

A frame with something odd about it (a stamp ahead of the node's clock, more data than its
size needs, a model output that is not finite, a camera_info that does not fit it) is
counted under its kind, reported on /diagnostics as ``frames_<kind>``, and logged at once
and then at most every ``period_s`` seconds per kind, with the count since the last line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable


class FrameNotes:
    """Thread-safe counts by kind and throttled log lines (one throttle per kind)."""

    def __init__(
        self, log: Callable[[str], None], kinds: Iterable[str] = (), period_s: float = 5.0
    ) -> None:
        self._log = log
        self.period_s = period_s
        self._counts = {kind: 0 for kind in kinds}
        self._since_logged: dict[str, int] = {}
        self._logged_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def note(self, kind: str, message: str) -> None:
        """Count one frame of ``kind``; log ``message`` unless this kind was logged lately."""
        now = time.monotonic()
        with self._lock:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            self._since_logged[kind] = self._since_logged.get(kind, 0) + 1
            last = self._logged_at.get(kind)
            if last is not None and now - last < self.period_s:
                return
            frames = self._since_logged.pop(kind)
            self._logged_at[kind] = now
        more = f" ({frames} such frames in the last {now - last:.0f} s)" if last else ""
        self._log(message + more)

    def count(self, kind: str) -> int:
        with self._lock:
            return self._counts.get(kind, 0)

    def values(self) -> dict[str, str]:
        """``frames_<kind>`` -> count, for /diagnostics."""
        with self._lock:
            return {f"frames_{kind}": str(n) for kind, n in self._counts.items()}
