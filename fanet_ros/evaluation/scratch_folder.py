"""The scratch folder a bag is written in before it gets its name, and the cleaning of those
that killed writers left behind.

The scratch lies beside the output (the final rename must stay on one file system: bags are
too large to copy) as ``.NAME.make_bag-XXXX``. Its writer holds an exclusive ``flock`` on
``writer.lock`` inside it for as long as it writes; the kernel drops that lock when the
process ends, however it ends (SIGKILL, power loss of the process...). A later write into
the same folder removes every scratch whose lock it can take: its writer is gone. Errors,
Ctrl-C and SIGTERM remove the scratch at once; only SIGKILL leaves one, until that next run.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from pathlib import Path

MARK = ".make_bag-"
LOCK_NAME = "writer.lock"
SETTLE_S = 5.0
"""A scratch younger than this is left alone (its writer may not hold its lock yet)."""


class ScratchFolder:
    """A locked scratch folder beside ``out_path``; removed by :meth:`remove`."""

    def __init__(self, out_path: Path) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f".{out_path.name}{MARK}", dir=out_path.parent))
        self._lock = os.open(self.path / LOCK_NAME, os.O_CREAT | os.O_WRONLY, 0o644)
        fcntl.flock(self._lock, fcntl.LOCK_EX)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._lock)


def remove_stale_scratch(folder: Path) -> list[Path]:
    """Remove the scratch folders in ``folder`` whose writers are gone; return them."""
    removed = []
    for scratch in sorted(folder.glob(f".*{MARK}*")):
        lock_path = scratch / LOCK_NAME
        try:
            if time.time() - lock_path.stat().st_mtime < SETTLE_S:
                continue
            lock = os.open(lock_path, os.O_WRONLY)
        except OSError:
            continue  # not ours, or already gone
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a live writer holds it
        finally:
            os.close(lock)
        shutil.rmtree(scratch, ignore_errors=True)
        removed.append(scratch)
    return removed
