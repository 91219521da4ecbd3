"""Spin a node so that no callback, and so no request from another participant, can stop it.

rclpy's executors re-raise whatever a callback raises out of ``spin``: one
subscription, timer or service callback that fails ends the process.
:class:`GuardedExecutor` spins like ``rclpy.spin`` but hands such an exception
to :class:`CallbackFailures`, which counts it by callback (for /diagnostics)
and logs it, at most once per :data:`LOG_THROTTLE_S` per callback, and spinning
goes on. A service whose callback failed sends no response: the client times
out, as it would with a lost request.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

LOG_THROTTLE_S = 5.0
"""Seconds between two log lines about the same callback."""
SHUTDOWN_CHECK_S = 0.5
"""Longest wait before :meth:`GuardedExecutor.spin` looks at the context again. rclpy's
SIGINT thread wakes executors first and shuts the context down after: an executor that
woke and waited again in between (a loaded CPU) is woken by nothing but its own entities,
and a node with no timer (a lifecycle node unconfigured or finalized) would wait forever."""


def describe_entity(entity: Any) -> str:
    """``subscription /image``, ``service /node/set_parameters``, ``timer Node._tick``..."""
    if entity is None:
        return "executor"
    kind = type(entity).__name__.lower()
    for attribute in ("topic_name", "srv_name"):
        name = getattr(entity, attribute, None)
        if isinstance(name, str):
            return f"{kind} {name}"
    callback = getattr(entity, "callback", None)
    name = getattr(callback, "__qualname__", None)
    return f"{kind} {name}" if name else kind


class CallbackFailures:
    """Exceptions raised by callbacks (or requests refused): counted by callback, logged
    throttled (thread-safe). ``what`` comes between the callback and the exception in the log.
    """

    def __init__(self, log: Callable[[str], None], what: str = "raised") -> None:
        self.log, self.what = log, what
        self.total = 0
        self.by_callback: dict[str, int] = {}
        self.last = ""
        """``callback: ExceptionType: message`` of the newest failure."""
        self._logged_at: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}
        self._lock = threading.Lock()

    def record(self, callback: str, exc: BaseException | str) -> None:
        """Count ``exc`` (an exception or a reason) of ``callback``; log it unless that
        callback was logged in the last :data:`LOG_THROTTLE_S` s."""
        text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        now = time.monotonic()
        with self._lock:
            self.total += 1
            self.by_callback[callback] = self.by_callback.get(callback, 0) + 1
            self.last = f"{callback}: {text}"
            if now - self._logged_at.get(callback, -LOG_THROTTLE_S) < LOG_THROTTLE_S:
                self._unlogged[callback] = self._unlogged.get(callback, 0) + 1
                return
            self._logged_at[callback] = now
            unlogged = self._unlogged.pop(callback, 0)
        where = [] if isinstance(exc, str) else traceback.format_tb(exc.__traceback__, limit=-1)
        place = f" [{where[0].strip().splitlines()[0]}]" if where else ""
        more = f" ({unlogged} more since the last report)" if unlogged else ""
        self.log(f"{callback} {self.what} {text}{place}{more}; the node keeps running")

    def snapshot(self) -> tuple[int, str]:
        """The total count and the newest failure."""
        with self._lock:
            return self.total, self.last


class GuardedExecutor(SingleThreadedExecutor):
    """A single-threaded executor whose :meth:`spin` survives exceptions in callbacks."""

    def __init__(self, failures: CallbackFailures, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.failures = failures
        self._entity: Any = None

    def wait_for_ready_callbacks(self, *args: Any, **kwargs: Any) -> Any:
        ready = super().wait_for_ready_callbacks(*args, **kwargs)
        self._entity = ready[1]
        return ready

    def spin(self) -> None:
        """Execute callbacks until the context shuts down (seen within
        :data:`SHUTDOWN_CHECK_S`); a failing callback is recorded."""
        while self.context.ok() and not self._is_shutdown:
            self._entity = None
            try:
                self.spin_once(timeout_sec=SHUTDOWN_CHECK_S)
            except (KeyboardInterrupt, ExternalShutdownException):
                raise
            except Exception as exc:
                if not self.context.ok():
                    return  # a signal shut the context down mid-wait: a stop, not a failure
                self.failures.record(describe_entity(self._entity), exc)
