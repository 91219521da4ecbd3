"""Image resizing and normalisation shared by training, export checks and the node.

One implementation so that a model sees the same pixels in training and on
the robot.
"""

from __future__ import annotations

import cv2
import numpy as np

from fanet_ros.model_metadata import Normalization


def resize_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize an 8-bit image: area averaging when shrinking, bilinear when growing.

    Keeps a trailing channel axis of size 1 (OpenCV drops it).
    """
    if image.shape[0] == height and image.shape[1] == width:
        return image
    shrinking = height * width < image.shape[0] * image.shape[1]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    resized = cv2.resize(np.ascontiguousarray(image), (width, height), interpolation=interpolation)
    if resized.ndim == 2 and image.ndim == 3:
        resized = resized[:, :, None]
    return resized


NEAREST = cv2.INTER_NEAREST_EXACT
"""Nearest-neighbour that samples each output pixel's centre, as the image resizes do
(``cv2.INTER_NEAREST`` takes ``floor(x * scale)``: up to half a source pixel up and left)."""


def resize_labels(
    labels: np.ndarray, height: int, width: int, out: np.ndarray | None = None
) -> np.ndarray:
    """Nearest-neighbour resize of a ``[H, W]`` label map (no invented classes), pixel
    centres aligned with :func:`resize_image`'s.

    Writes into ``out`` (``[height, width]`` uint8) when given; returns
    ``labels`` itself when the size already matches.
    """
    if labels.shape[0] == height and labels.shape[1] == width:
        return labels
    return cv2.resize(labels, (width, height), dst=out, interpolation=NEAREST)


UNIT_RANGE = Normalization(scale=1.0 / 255.0)
"""Pixels as float32 in [0, 1]: what colour augmentation works on before :func:`normalize`."""


def normalize(
    rgb: np.ndarray, normalization: Normalization, out: np.ndarray | None = None,
    unit_range: bool = False,
) -> np.ndarray:
    """uint8 RGB ``[..., 3]`` -> float32 ``(rgb * scale - mean) / std``, written into ``out``.

    ``unit_range``: ``rgb`` is float pixels / 255 (:data:`UNIT_RANGE`), e.g. after colour
    jitter; the result is the same model input. ``out`` may be ``rgb`` itself.
    """
    if out is None:
        out = np.empty(rgb.shape, dtype=np.float32)
    scale = normalization.scale / UNIT_RANGE.scale if unit_range else normalization.scale
    np.multiply(rgb, np.float32(scale), out=out, casting="unsafe")
    mean = np.asarray(normalization.mean, dtype=np.float32)
    std = np.asarray(normalization.std, dtype=np.float32)
    if mean.any():
        out -= mean
    if (std != 1.0).any():
        out /= std
    return out


def model_input(rgb: np.ndarray, height: int, width: int,
                normalization: Normalization) -> np.ndarray:
    """uint8 RGB -> the model's float32 input at ``height x width``: what training feeds
    (without augmentation) and what the node's pipeline computes for the same frame."""
    return normalize(resize_image(rgb, height, width), normalization)


def upsampled_probabilities(logits: np.ndarray, height: int, width: int) -> np.ndarray:
    """``[h, w, C]`` class logits -> ``[height, width, C]`` float32 softmax probabilities.

    Bilinear first (OpenCV ``INTER_LINEAR``, the half-pixel sampling of the models' own
    upsampling and of ONNX ``Resize``), softmax after: the full-resolution distribution that a
    ``probabilities`` head would give for the same logits.
    """
    scores = cv2.resize(logits, (width, height), interpolation=cv2.INTER_LINEAR)
    scores = scores.reshape(height, width, -1)  # OpenCV drops a single channel's axis
    exp = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32, copy=False)
