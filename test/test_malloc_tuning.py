"""keep_image_buffers: image-sized blocks come from glibc's heap, not a fresh mmap each."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

MALLINFO = """
import ctypes, sys
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd",
        "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "tuned":
    from fanet_ros.node.malloc_tuning import keep_image_buffers
    assert keep_image_buffers()
mapped = libc.mallinfo2().hblks
frame = bytearray(1024 * 2048 * 3)  # one 2 MP bgr8 image
print(libc.mallinfo2().hblks - mapped)
"""


def _has_mallinfo2() -> bool:
    try:
        return hasattr(ctypes.CDLL(None), "mallinfo2")
    except OSError:
        return False


@pytest.mark.skipif(not _has_mallinfo2(), reason="needs glibc 2.33+ (mallinfo2)")
def test_an_image_sized_block_is_mapped_by_default_and_from_the_heap_once_tuned():
    assert _mapped_blocks("plain") == 1  # glibc's default: a 6 MB block is its own mmap
    assert _mapped_blocks("tuned") == 0


@pytest.mark.parametrize("name, value", [
    ("MALLOC_MMAP_THRESHOLD_", "67108864"),  # the user's own settings are kept
    ("FANET_ROS_KEEP_IMAGE_BUFFERS", "0"),  # the opt-out leaves glibc's defaults
])
def test_a_process_started_with_malloc_settings_keeps_them(name, value):
    run = subprocess.run(
        [sys.executable, "-c", "from fanet_ros.node.malloc_tuning import keep_image_buffers as k, "
         "user_malloc_settings as u; print(k(), u())"],
        capture_output=True, text=True, check=True, env={**os.environ, name: value},
    )
    assert run.stdout.split() == ["False", f"{name}={value}"]


def _mapped_blocks(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    run = subprocess.run([sys.executable, "-c", MALLINFO, mode],
                         capture_output=True, text=True, check=True, env=env)
    return int(run.stdout)
