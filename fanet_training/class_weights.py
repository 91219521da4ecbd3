"""Per-class loss weights from the training labels: median-frequency balancing (SegNet).

``freq(c)`` = pixels of class c / pixels of the images in which c appears;
``weight(c) = median(freq) / freq(c)``: rare, thin classes (pole, sign, cyclist)
weigh more, road and sky less. Classes absent from every image get weight 1.
``sqrt-median-frequency`` takes the square root of those weights: rare classes still
weigh more, but large classes (building, road) lose less (on CamVid median frequency
cost building 28 IoU points).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from fanet_ros.dataset_layouts import Sample, read_label

CLASS_WEIGHTING = ("none", "median-frequency", "sqrt-median-frequency")


def class_pixel_counts(samples: list[Sample], layout: str,
                       num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of each class, and pixels of the images containing it (ids >= classes ignored).

    A process reads one set of labels once: ``--copy-paste`` and the class weights share it."""
    pixels, image_pixels = _label_counts(tuple(s.label_path for s in samples), layout,
                                         num_classes)
    return np.array(pixels, np.int64), np.array(image_pixels, np.int64)


@lru_cache(maxsize=4)
def _label_counts(label_paths: tuple[Path, ...], layout: str,
                  num_classes: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    pixels = np.zeros(num_classes, np.int64)
    image_pixels = np.zeros(num_classes, np.int64)
    for path in label_paths:
        labels = read_label(path, layout, num_classes)
        counts = np.bincount(labels.ravel(), minlength=256)[:num_classes]
        pixels += counts
        image_pixels[counts > 0] += labels.size
    return tuple(pixels.tolist()), tuple(image_pixels.tolist())


def median_frequency_weights(pixels: np.ndarray, image_pixels: np.ndarray) -> list[float]:
    """``median(freq) / freq`` per class; 1.0 for a class that never appears."""
    present = pixels > 0
    if not present.any():
        raise ValueError("no labelled pixel of any class in the training split")
    freq = np.zeros(len(pixels))
    freq[present] = pixels[present] / image_pixels[present]
    median = float(np.median(freq[present]))
    weights = np.ones(len(pixels))
    weights[present] = median / freq[present]
    return [round(float(w), 4) for w in weights]


def rarer_than_median(pixels: np.ndarray, image_pixels: np.ndarray) -> tuple[int, ...]:
    """Ids of the present classes rarer than the median class (median-frequency weight > 1):
    on CamVid pole, sign, fence, pedestrian and bicyclist."""
    weights = median_frequency_weights(pixels, image_pixels)
    return tuple(c for c, w in enumerate(weights) if w > 1 and pixels[c] > 0)


def class_weights(method: str, pixels: np.ndarray, image_pixels: np.ndarray) -> list[float]:
    """The weights of one of :data:`CLASS_WEIGHTING` (not ``none``)."""
    weights = median_frequency_weights(pixels, image_pixels)
    if method == "median-frequency":
        return weights
    if method == "sqrt-median-frequency":
        return [round(float(np.sqrt(w)), 4) for w in weights]
    raise ValueError(f"unknown class weighting {method!r}; one of {', '.join(CLASS_WEIGHTING)}")
