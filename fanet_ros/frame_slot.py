"""A one-place mailbox between the subscription callback and the inference thread.

The newest frame wins: putting a frame over one not yet taken drops the old
one, so latency never grows with a backlog.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestFrameSlot(Generic[T]):
    """Holds at most one item; :meth:`put` replaces, :meth:`take` waits."""

    def __init__(self) -> None:
        self._item: T | None = None
        self._closed = False
        self._cond = threading.Condition()
        self.replaced = 0
        """Items overwritten before anyone took them (stale frames dropped)."""

    def put(self, item: T) -> bool:
        """Store ``item``; return True when it replaced an item nobody took."""
        with self._cond:
            replaced = self._item is not None
            if replaced:
                self.replaced += 1
            self._item = item
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None) -> T | None:
        """The newest item, waiting up to ``timeout`` s; ``None`` on timeout or close."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        """Wake every waiter; later :meth:`take` calls return what is left, then ``None``."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
