"""Class ids -> colours: light enough for report writers (no model runtime imported)."""

from __future__ import annotations

import cv2
import numpy as np

from fanet_ros.labels import IGNORE_LABEL


class Colorizer:
    """Class ids -> colours by lookup table (``cv2.applyColorMap`` with the classes' colours
    as its user colour map: one pass from ids to colours); unknown ids are black."""

    def __init__(self, colors: tuple[tuple[int, int, int], ...]) -> None:
        lut = np.zeros((256, 1, 3), dtype=np.uint8)
        lut[: len(colors), 0] = np.asarray(colors, dtype=np.uint8)
        lut[IGNORE_LABEL] = 0
        self._lut = {"rgb8": lut, "bgr8": np.ascontiguousarray(lut[:, :, ::-1])}

    def __call__(
        self, labels: np.ndarray, encoding: str = "rgb8", out: np.ndarray | None = None
    ) -> np.ndarray:
        """``[H, W, 3]`` colours of ``[H, W]`` uint8 ids, written into ``out`` when given."""
        return cv2.applyColorMap(np.ascontiguousarray(labels), self._lut[encoding], dst=out)
