"""Which INT8 calibration an engine was built with, so a new calibration rebuilds it.

Plain Python, no TensorRT. The engine key holds the sha256 of the
calibration cache (``.calib``) the engine was built with; a record beside
that cache (``.calib.json``) holds a digest of the images it came from and
of their preprocessing. So:

* deleting the ``.calib`` file calibrates again and rebuilds the engine;
* pointing ``int8_calibration_dir`` at other images (or changing, adding or
  removing images, or the normalisation) makes the cache stale: it is
  removed and calibration runs again;
* with no ``int8_calibration_dir`` an existing cache is used as it is.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from fanet_ros.model_metadata import Normalization
from fanet_ros.tensorrt.calibration_data import list_images
from fanet_ros.tensorrt.engine_cache import atomic_write_bytes, file_sha256


def images_digest(
    folder: str, limit: int, height: int, width: int, normalization: Normalization
) -> str:
    """sha256 of the images calibration reads (names, sizes, mtimes) and of their preprocessing."""
    root = Path(folder).expanduser()
    digest = hashlib.sha256()
    digest.update(json.dumps({"size": [height, width], "limit": limit,
                              "normalization": asdict(normalization)},
                             sort_keys=True, default=str).encode())
    for path in list_images(root, limit):
        stat = path.stat()
        digest.update(f"{path.relative_to(root).as_posix()}\0{stat.st_size}\0"
                      f"{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def record_path(calibration_cache: Path) -> Path:
    return calibration_cache.with_name(calibration_cache.name + ".json")


def record_source(calibration_cache: Path, images: str) -> None:
    """Note beside a freshly written calibration cache which images it came from."""
    atomic_write_bytes(record_path(calibration_cache), json.dumps({"images": images}).encode())


def calibration_identity(
    calibration_cache: Path, images: str, log: Callable[[str], None]
) -> str:
    """sha256 of the calibration cache to build with, or ``""`` when calibration must run.

    ``images``: :func:`images_digest` of ``int8_calibration_dir``, ``""`` when none is set.
    A cache that came from other images is removed (with its record).
    """
    if not calibration_cache.is_file():
        return ""
    if images:
        try:
            recorded = json.loads(record_path(calibration_cache).read_text()).get("images")
        except (OSError, ValueError, AttributeError):
            recorded = None
        if recorded != images:
            log(f"INT8 calibration: {calibration_cache} came from other images than "
                "int8_calibration_dir holds now (or its record is missing): calibrating again")
            calibration_cache.unlink(missing_ok=True)
            record_path(calibration_cache).unlink(missing_ok=True)
            return ""
    return file_sha256(calibration_cache)
