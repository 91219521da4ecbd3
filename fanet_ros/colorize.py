"""Class ids -> colours: light enough for report writers (no model runtime imported)."""

from __future__ import annotations

import cv2
import numpy as np

from fanet_ros.labels import IGNORE_LABEL


class Colorizer:
    """Class ids -> colours by lookup table (``cv2.LUT``); unknown ids are black."""

    def __init__(self, colors: tuple[tuple[int, int, int], ...]) -> None:
        lut = np.zeros((256, 1, 3), dtype=np.uint8)
        lut[: len(colors), 0] = np.asarray(colors, dtype=np.uint8)
        lut[IGNORE_LABEL] = 0
        self._lut = {"rgb8": lut, "bgr8": np.ascontiguousarray(lut[:, :, ::-1])}

    def __call__(
        self, labels: np.ndarray, encoding: str = "rgb8", out: np.ndarray | None = None
    ) -> np.ndarray:
        """``[H, W, 3]`` colours of ``[H, W]`` uint8 ids, written into ``out`` when given."""
        ids = cv2.cvtColor(np.ascontiguousarray(labels), cv2.COLOR_GRAY2BGR, dst=out)
        return cv2.LUT(ids, self._lut[encoding], dst=ids)  # in place: one pass, no scratch
