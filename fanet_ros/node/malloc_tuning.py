"""Keep image-sized heap blocks for reuse instead of mapping fresh pages every frame.

Every frame, rclpy and the RMW allocate and free blocks the size of an image
(the message's C copy, its serialised form, the bytes a raw subscription
takes). glibc serves blocks above ``M_MMAP_THRESHOLD`` with a new ``mmap``
and gives them back on ``free``: each frame then page-faults its buffers in
again and the kernel zeroes them. Serialising a 6 MB ``sensor_msgs/Image``
takes about 12 ms that way and under 1 ms from a heap that keeps its blocks
(``bench/node_pipeline.py`` shows the effect on the whole node).

The same settings work for any process without code, before it starts:
``MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=134217728``. A
process started with its own malloc settings keeps them, and
``FANET_ROS_KEEP_IMAGE_BUFFERS=0`` leaves glibc's defaults.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
"""Blocks up to 32 MiB (an 8 MP bgr8 frame is 24.9 MB) come from the heap; glibc's maximum."""
TRIM_THRESHOLD_BYTES = 128 * 1024 * 1024
"""Free heap kept for reuse before glibc returns memory to the system."""


USER_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                  "MALLOC_MMAP_MAX_")


OPT_OUT = "FANET_ROS_KEEP_IMAGE_BUFFERS"
"""Set to 0 to leave malloc as glibc sets it up."""


def user_malloc_settings() -> str | None:
    """The malloc settings this process was started with (environment), if any."""
    settings = [f"{name}={os.environ[name]}" for name in USER_VARIABLES if os.environ.get(name)]
    if os.environ.get(OPT_OUT) == "0":
        settings.append(f"{OPT_OUT}=0")
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if "glibc.malloc." in tunables:
        settings.append(f"GLIBC_TUNABLES={tunables}")
    return " ".join(settings) or None


def keep_image_buffers() -> bool:
    """Tune glibc malloc for image-sized blocks.

    False, changing nothing, where the process was started with its own malloc
    settings (:func:`user_malloc_settings`) or there is no glibc ``mallopt``.
    """
    if not sys.platform.startswith("linux") or user_malloc_settings():
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # musl and others: leave malloc as it is
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
