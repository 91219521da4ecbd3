"""A SIGINT or SIGTERM seen at once from any thread, while the main thread is in native code.

Python runs its signal handlers on the main thread between bytecodes, so a Ctrl-C during
TensorRT's engine build (one native call of seconds to minutes) waits for the build to end.
Python's C-level handler also writes the signal's number to the "wakeup fd"
(:func:`signal.set_wakeup_fd`) at once: TensorRT's progress monitor reads that pipe at each
build step and cancels the build (:mod:`fanet_ros.tensorrt.builder`).
"""

from __future__ import annotations

import os
import signal
import threading

WATCHED = (signal.SIGINT, signal.SIGTERM)


class SignalWatch:
    """While open (on the main thread), :meth:`arrived` says whether SIGINT or SIGTERM came.

    Only signals Python handles reach the pipe (SIGINT always does; SIGTERM once a handler is
    installed, as the node does). Off the main thread nothing can be watched: ``active`` is
    False and :meth:`arrived` stays False.
    """

    def __init__(self) -> None:
        self.active = False
        self._seen = False
        self._lock = threading.Lock()
        if threading.current_thread() is not threading.main_thread():
            return
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._previous = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        self.active = True

    def arrived(self) -> bool:
        """True once SIGINT or SIGTERM has arrived since the watch opened (thread-safe)."""
        if not self.active:
            return self._seen
        with self._lock:
            if not self._seen:
                try:
                    data = os.read(self._read, 256)
                except BlockingIOError:
                    data = b""
                self._seen = any(number in WATCHED for number in data)
            return self._seen

    def close(self) -> None:
        """Give the wakeup fd back to whoever had it (asyncio, say)."""
        if not self.active:
            return
        self.arrived()  # what came before the close still counts
        signal.set_wakeup_fd(self._previous, warn_on_full_buffer=False)
        os.close(self._read)
        os.close(self._write)
        self.active = False

    def __enter__(self) -> SignalWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
