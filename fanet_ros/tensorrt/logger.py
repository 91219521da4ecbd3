"""TensorRT's log: warnings and errors to stderr, and the errors kept to explain a failed build."""

from __future__ import annotations

import sys
import threading
from collections import deque

import tensorrt as trt


class RecordingLogger(trt.ILogger):
    """Prints messages at ``WARNING`` and above; remembers the latest errors."""

    def __init__(self, keep: int = 20) -> None:
        trt.ILogger.__init__(self)
        self._errors: deque[str] = deque(maxlen=keep)
        self._lock = threading.Lock()  # TensorRT may log from its own threads

    def log(self, severity: trt.ILogger.Severity, msg: str) -> None:
        level = int(severity)
        if level <= int(trt.ILogger.Severity.ERROR):
            with self._lock:
                self._errors.append(msg)
        if level <= int(trt.ILogger.Severity.WARNING):
            print(f"[TensorRT] {getattr(severity, 'name', severity)}: {msg}", file=sys.stderr)

    def take_errors(self) -> list[str]:
        """The errors logged since the last call, oldest first."""
        with self._lock:
            errors = list(self._errors)
            self._errors.clear()
        return errors
