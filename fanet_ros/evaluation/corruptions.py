"""Fixed image degradations a robot's camera meets: dusk, haze, blur, sensor noise, JPEG.

Each takes and returns ``[H, W, 3]`` uint8 RGB. ``fanet-robustness`` scores a model on
frames passed through each (:data:`CORRUPTIONS`); training draws random ones of the
same kinds (``fanet_training.augment``).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np


def darken(image: np.ndarray, gamma: float = 2.2, gain: float = 0.6) -> np.ndarray:
    """Dusk: ``gain * x ** gamma`` on [0, 1] (mid-grey 128 falls to about 30)."""
    table = np.rint(255 * gain * (np.arange(256) / 255.0) ** gamma).astype(np.uint8)
    return cv2.LUT(image, table)


def low_contrast(image: np.ndarray, factor: float = 0.4) -> np.ndarray:
    """Haze or glare: pixels pulled towards the image's mean by ``1 - factor``."""
    mean = image.reshape(-1, 3).mean(axis=0)
    return np.clip(mean + factor * (image.astype(np.float32) - mean), 0, 255).astype(np.uint8)


def blur(image: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """Defocus or motion: a Gaussian blur of ``sigma`` pixels."""
    return cv2.GaussianBlur(image, (0, 0), sigma)


def noise(image: np.ndarray, sigma: float = 12.0, seed: int = 0) -> np.ndarray:
    """Sensor noise: additive Gaussian, ``sigma`` in grey levels (seeded: repeatable)."""
    grain = np.random.default_rng(seed).normal(0.0, sigma, image.shape)
    return np.clip(image + grain, 0, 255).astype(np.uint8)


def jpeg(image: np.ndarray, quality: int = 15) -> np.ndarray:
    """A JPEG round trip at ``quality`` (compressed camera streams)."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


CORRUPTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "clean": lambda image: image,
    "dark (gamma 2.2, gain 0.6)": darken,
    "low contrast (x0.4)": low_contrast,
    "blur (sigma 2 px)": blur,
    "noise (sigma 12)": noise,
    "JPEG (quality 15)": jpeg,
}
"""The robustness table's columns: name -> degradation."""
