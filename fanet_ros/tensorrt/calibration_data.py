"""Images from a folder, preprocessed exactly as the node does, in calibration batches.

No TensorRT here: the INT8 calibrator (``calibrator.py``) only copies these
batches to the GPU.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from fanet_ros.model_metadata import Normalization
from fanet_ros.preprocessing import normalize, resize_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp")


class ImageFolderError(ValueError):
    """A folder of images is missing, empty or holds an unreadable image."""


def list_images(folder: str | Path, limit: int = 0) -> list[Path]:
    """Image files under ``folder`` (recursively, sorted); the first ``limit`` if > 0."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ImageFolderError(f"image folder '{folder}' does not exist")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ImageFolderError(
            f"image folder '{folder}' holds no images ({', '.join(IMAGE_SUFFIXES)})"
        )
    return paths[:limit] if limit > 0 else paths


def read_rgb(path: Path) -> np.ndarray:
    """An 8-bit ``[H, W, 3]`` RGB image; raises :class:`ImageFolderError` naming the file."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageFolderError(f"cannot read image '{path}': remove it or replace it")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class CalibrationImages:
    """Model-ready float32 ``[B, H, W, 3]`` batches from image files."""

    def __init__(
        self, paths: list[Path], height: int, width: int, normalization: Normalization
    ) -> None:
        self.paths = paths
        self.height = height
        self.width = width
        self.normalization = normalization

    def num_batches(self, batch_size: int) -> int:
        return len(self.paths) // batch_size

    def batches(self, batch_size: int) -> Iterator[np.ndarray]:
        """Full batches only (TensorRT needs the profile's batch size); the rest is dropped."""
        batch = np.empty((batch_size, self.height, self.width, 3), dtype=np.float32)
        for start in range(0, self.num_batches(batch_size) * batch_size, batch_size):
            for slot, path in enumerate(self.paths[start : start + batch_size]):
                rgb = resize_image(read_rgb(path), self.height, self.width)
                normalize(rgb, self.normalization, out=batch[slot])
            yield batch
