"""The authors' training augmentations, in OpenCV/NumPy (no TensorFlow, so they also feed JAX).

Random crop of 60-100% of each side resized to the training size, horizontal
and vertical flips, brightness/contrast/saturation jitter, clip to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from fanet_ros.model_metadata import Normalization
from fanet_ros.preprocessing import UNIT_RANGE, normalize, resize_image, resize_labels


@dataclass(frozen=True)
class AugmentConfig:
    min_crop: float = 0.6
    hflip: float = 0.5
    vflip: float = 0.5
    brightness: float = 0.2
    """Added to every pixel, drawn from ``[-brightness, brightness]`` (image in [0, 1])."""
    contrast: float = 0.2
    """Factor ``1 +- contrast`` around the image mean."""
    saturation: float = 0.2
    """Factor ``1 +- saturation`` away from the grey image."""


def random_crop_resize(
    image: np.ndarray, labels: np.ndarray, height: int, width: int, min_crop: float,
    rng: np.random.Generator, crop: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Crop ``min_crop..1`` of each side at a random place, resize to ``height x width``.

    With ``crop = (h, w)`` smaller than ``height x width``, the output is ``h x w`` at the
    same scale as that full-size output: the source region shrinks by ``h / height`` and
    ``w / width``, so objects keep the size they have at inference.
    """
    src_h, src_w = labels.shape
    out_h, out_w = crop or (height, width)
    scale = rng.uniform(min_crop, 1.0)
    crop_h = max(1, round(src_h * scale * out_h / height))
    crop_w = max(1, round(src_w * scale * out_w / width))
    top = int(rng.integers(0, src_h - crop_h + 1))
    left = int(rng.integers(0, src_w - crop_w + 1))
    image = image[top:top + crop_h, left:left + crop_w]
    labels = labels[top:top + crop_h, left:left + crop_w]
    return resize_image(image, out_h, out_w), resize_labels(labels, out_h, out_w)


def jitter_colors(image: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> None:
    """Brightness, contrast and saturation jitter in place on float RGB in [0, 1], then clip."""
    image += np.float32(rng.uniform(-config.brightness, config.brightness))
    contrast = np.float32(rng.uniform(1 - config.contrast, 1 + config.contrast))
    mean = image.mean(dtype=np.float32)
    image -= mean
    image *= contrast
    image += mean
    saturation = np.float32(rng.uniform(1 - config.saturation, 1 + config.saturation))
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[:, :, None]
    image -= grey
    image *= saturation
    image += grey
    np.clip(image, 0.0, 1.0, out=image)


def augment(
    image: np.ndarray, labels: np.ndarray, height: int, width: int, config: AugmentConfig,
    rng: np.random.Generator, crop: tuple[int, int] | None = None,
    normalization: Normalization = UNIT_RANGE,
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 RGB + uint8 labels -> the model's float32 input (``normalization``, applied
    after the jitter in [0, 1]) and labels, both ``height x width`` (or ``crop``, see
    :func:`random_crop_resize`)."""
    image, labels = random_crop_resize(image, labels, height, width, config.min_crop, rng,
                                       crop)
    if rng.random() < config.hflip:
        image, labels = image[:, ::-1], labels[:, ::-1]
    if rng.random() < config.vflip:
        image, labels = image[::-1], labels[::-1]
    pixels = normalize(image, UNIT_RANGE)
    jitter_colors(pixels, config, rng)
    if normalization != UNIT_RANGE:
        normalize(pixels, normalization, out=pixels, unit_range=True)
    return pixels, np.ascontiguousarray(labels)
