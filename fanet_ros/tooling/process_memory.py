"""Where a process's memory is: resident size, mappings by kind, glibc's heap (Linux only).

Read by ``bench/memory_after_large_frames.py`` and the memory tests; nothing here
changes the process it looks at except :func:`malloc_trim`.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of process ``pid`` (``VmRSS``), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise ValueError(f"no VmRSS for process {pid}")


def resident_by_kind(pid: int | str = "self") -> dict[str, int]:
    """Resident bytes of ``pid`` by mapping: ``heap`` (brk), ``anon_large`` (anonymous
    mappings of 32 MiB or more: glibc's mmapped blocks, DDS pools), ``anon`` (other
    anonymous: thread arenas and stacks, small mmaps), ``shm`` (``/dev/shm``: Fast DDS's
    shared-memory segments) and ``file`` (libraries and other files)."""
    kinds = dict.fromkeys(("heap", "anon_large", "anon", "shm", "file"), 0)
    kind = "file"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 5 and ":" in fields[3]:  # a mapping's header
            start, end = (int(x, 16) for x in fields[0].split("-"))
            name = fields[5] if len(fields) > 5 else ""
            if name == "[heap]":
                kind = "heap"
            elif name.startswith("/dev/shm"):
                kind = "shm"
            elif not name or name.startswith("[anon"):
                kind = "anon_large" if end - start >= 32 * MIB else "anon"
            else:
                kind = "file"  # files, [stack], [vdso] and the like
        elif fields[0] == "Rss:":
            kinds[kind] += int(fields[1]) * 1024
    return kinds


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


@dataclass(frozen=True)
class HeapUse:
    """glibc malloc in this process, all arenas (``mallinfo2``), in bytes."""

    in_use: int
    """Allocated from arenas (``uordblks``)."""
    free: int
    """Free inside arenas, kept by malloc (``fordblks``)."""
    mmapped: int
    """Blocks mapped on their own (over ``M_MMAP_THRESHOLD``; ``hblkhd``)."""


def heap_use() -> HeapUse | None:
    """This process's :class:`HeapUse`; ``None`` without glibc's ``mallinfo2`` (2.33+)."""
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = _Mallinfo2
    info = mallinfo2()
    return HeapUse(int(info.uordblks), int(info.fordblks), int(info.hblkhd))


def malloc_trim() -> bool:
    """Give free heap back to the system (``malloc_trim(0)``); False without glibc."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes, trim.restype = (ctypes.c_size_t,), ctypes.c_int
    return bool(trim(0))
