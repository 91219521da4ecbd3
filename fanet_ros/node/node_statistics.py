"""Rates, counters and latency percentiles that the node reports on /diagnostics."""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np


class LatencyWindow:
    """Latencies (seconds) since the last report, at most ``size``, and their percentiles."""

    def __init__(self, size: int = 600) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self._values.append(seconds)

    def take_percentiles_ms(self, qs: tuple[float, ...] = (50, 95, 99)) -> dict[float, float]:
        """Percentiles in milliseconds of what was added since the last call; then reset."""
        with self._lock:
            values = np.fromiter(self._values, dtype=np.float64)
            self._values.clear()
        if values.size == 0:
            return {}
        return {q: float(v) * 1000.0 for q, v in zip(qs, np.percentile(values, qs))}


class RateMeter:
    """Events per second between two :meth:`rate` calls."""

    def __init__(self) -> None:
        self.count = 0
        self._since_count = 0
        self._since = time.monotonic()
        self._lock = threading.Lock()

    def tick(self) -> None:
        with self._lock:
            self.count += 1

    def restart(self) -> None:
        """The next :meth:`rate` counts from now."""
        with self._lock:
            self._since, self._since_count = time.monotonic(), self.count

    def rate(self) -> float:
        with self._lock:
            now = time.monotonic()
            elapsed = now - self._since
            value = (self.count - self._since_count) / elapsed if elapsed > 0 else 0.0
            self._since, self._since_count = now, self.count
            return value
