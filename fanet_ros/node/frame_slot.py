"""One-place mailboxes between the subscription callbacks and the inference thread.

The newest frame wins: putting a frame over one not yet taken drops the old
one, so latency never grows with a backlog. :class:`RoundRobinSlots` keeps one such
slot per camera (one camera: one slot).
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K")


class RoundRobinSlots(Generic[K, T]):
    """One newest-item slot per key (camera); the taker serves the keys that hold an item
    in turn, so a busy camera never starves another and a silent one holds nobody back."""

    def __init__(self, keys: list[K]) -> None:
        self._order = list(keys)
        self._items: dict[K, T | None] = dict.fromkeys(self._order)
        self._next = 0
        self._closed = False
        self._cond = threading.Condition()
        self.replaced: dict[K, int] = dict.fromkeys(self._order, 0)
        """Items overwritten before anyone took them, per key."""

    def put(self, key: K, item: T) -> bool:
        """Store ``item`` in ``key``'s slot; return True when it replaced one nobody took."""
        with self._cond:
            replaced = self._items[key] is not None
            if replaced:
                self.replaced[key] += 1
            self._items[key] = item
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None, limit: int = 1) -> list[tuple[K, T]]:
        """Up to ``limit`` (key, item) pairs, one per key holding an item, in round-robin
        order from where the last call stopped; waits up to ``timeout`` s for the first.
        Empty on timeout or close."""
        with self._cond:
            if not self._closed and all(item is None for item in self._items.values()):
                self._cond.wait(timeout)
            taken: list[tuple[K, T]] = []
            count = len(self._order)
            for index in [(self._next + step) % count for step in range(count)]:
                key = self._order[index]
                item = self._items[key]
                if item is not None and len(taken) < limit:
                    taken.append((key, item))
                    self._items[key] = None
                    self._next = (index + 1) % count  # the next call starts after this key
            return taken

    def close(self) -> None:
        """Wake every waiter; later :meth:`take` calls return what is left, then nothing."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        """Empty every slot and wait in :meth:`take` again (a node activated anew: frames
        from before are stale)."""
        with self._cond:
            self._items = dict.fromkeys(self._order)
            self._closed = False
