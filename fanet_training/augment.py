"""Training augmentations in OpenCV/NumPy (no TensorFlow, so they also feed JAX).

Two presets (``--augment``):

* ``street`` (default): what a street camera can show. Scale 0.5-2x around the
  inference scale with crops (zooming out pads with void), horizontal flips
  only, and photometric changes wide enough to cover dusk, other cameras and
  other streets: brightness, contrast, saturation, gamma, colour temperature,
  blur, sensor noise and JPEG compression.
* ``legacy``: the augmentation of the first shipped models: zoom 1-1.67x (a crop of
  60-100 % of each side), horizontal and vertical flips, mild brightness,
  contrast and saturation jitter.

``--copy-paste P`` adds, before those, the rare classes' pixels of another training frame
(:func:`paste_objects`): pedestrians, cyclists, poles and signs in front of streets where
they were never filmed; ``--class-mix P`` pastes a random half of another frame's classes
(:func:`half_of_the_classes`, ClassMix): buildings, trees and cars next to what they were
never filmed beside. The comparison that chose ``street`` is in docs/training.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from fanet_ros.evaluation.corruptions import jpeg
from fanet_ros.labels import IGNORE_LABEL
from fanet_ros.model_metadata import Normalization
from fanet_ros.preprocessing import UNIT_RANGE, normalize, resize_image, resize_labels


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of each augmentation; a zero range (or probability) turns it off."""

    min_zoom: float = 1.0
    max_zoom: float = 1.0 / 0.6
    """Objects appear ``zoom`` times their size at inference (log-uniform in the range);
    below 1 the frame is zoomed out and the border is padded with void."""
    pad_fill: str = "black"
    """Pixels of that padding: ``black``, or ``mean`` (the frame's own mean colour, so that
    BatchNorm's statistics do not learn black borders that cameras never show)."""
    hflip: float = 0.5
    vflip: float = 0.5
    brightness: float = 0.2
    """Added to every pixel, drawn from ``[-brightness, brightness]`` (image in [0, 1])."""
    contrast: float = 0.2
    """Factor ``1 +- contrast`` around the image mean."""
    saturation: float = 0.2
    """Factor ``1 +- saturation`` away from the grey image."""
    gamma: float = 0.0
    """``pixels ** g`` with ``log g`` in ``[-gamma, gamma]`` (g > 1 darkens: dusk)."""
    temperature: float = 0.0
    """Red gain ``1 + t``, blue gain ``1 - t``, ``t`` in ``[-temperature, temperature]``."""
    blur: float = 0.0
    """Probability of a Gaussian blur with sigma in ``blur_sigma``."""
    blur_sigma: tuple[float, float] = (0.4, 1.5)
    noise: float = 0.0
    """Probability of Gaussian sensor noise with sigma in ``noise_sigma``."""
    noise_sigma: tuple[float, float] = (0.005, 0.04)
    jpeg: float = 0.0
    """Probability of a JPEG round trip at a quality in ``jpeg_quality``."""
    jpeg_quality: tuple[int, int] = (30, 90)


LEGACY = AugmentConfig()
STREET = AugmentConfig(min_zoom=0.5, max_zoom=2.0, vflip=0.0, brightness=0.25, contrast=0.35,
                       saturation=0.35, gamma=0.5, temperature=0.15, blur=0.25, noise=0.25,
                       jpeg=0.25)
PRESETS = {"street": STREET, "legacy": LEGACY}
PAD_FILLS = ("black", "mean")


def augment_config(name: str) -> AugmentConfig:
    """The preset called ``name`` (``fanet-train --augment``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown augmentation {name!r}; one of {', '.join(PRESETS)}")
    return replace(PRESETS[name])


def random_crop_resize(
    image: np.ndarray, labels: np.ndarray, height: int, width: int, config: AugmentConfig,
    rng: np.random.Generator, crop: tuple[int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A random region of the frame at a random zoom, resized to ``height x width``.

    The zoom is relative to the frame resized to ``height x width`` (the inference scale).
    With ``crop = (h, w)`` the output is ``h x w`` at that same scale: the source region
    shrinks by ``h / height`` and ``w / width``. A region larger than the frame (zoom < 1)
    is padded: void labels, pixels black or the frame's mean colour (``config.pad_fill``).
    """
    src_h, src_w = labels.shape
    out_h, out_w = crop or (height, width)
    zoom = math.exp(rng.uniform(math.log(config.min_zoom), math.log(config.max_zoom)))
    region_h = max(1, round(src_h * out_h / (height * zoom)))
    region_w = max(1, round(src_w * out_w / (width * zoom)))
    top = int(rng.integers(min(0, src_h - region_h), max(0, src_h - region_h) + 1))
    left = int(rng.integers(min(0, src_w - region_w), max(0, src_w - region_w) + 1))
    fill = image.reshape(-1, image.shape[-1]).mean(0).round().astype(image.dtype) \
        if config.pad_fill == "mean" else 0
    image = _padded_window(image, top, left, region_h, region_w, fill)
    labels = _padded_window(labels, top, left, region_h, region_w, IGNORE_LABEL)
    return resize_image(image, out_h, out_w), resize_labels(labels, out_h, out_w)


def _padded_window(array: np.ndarray, top: int, left: int, height: int, width: int,
                   fill: int | np.ndarray) -> np.ndarray:
    """``array[top:top+height, left:left+width]``, with ``fill`` where it leaves the array."""
    src_h, src_w = array.shape[:2]
    inner = array[max(top, 0):min(top + height, src_h), max(left, 0):min(left + width, src_w)]
    if inner.shape[:2] == (height, width):
        return inner
    window = np.full((height, width) + array.shape[2:], fill, array.dtype)
    row, col = max(-top, 0), max(-left, 0)
    window[row:row + inner.shape[0], col:col + inner.shape[1]] = inner
    return window


def paste_objects(
    image: np.ndarray, labels: np.ndarray, donor_image: np.ndarray, donor_labels: np.ndarray,
    classes: tuple[int, ...], rng: np.random.Generator, max_shift: float = 0.25,
) -> tuple[np.ndarray, np.ndarray]:
    """Copy-paste: the donor frame's pixels of ``classes`` over ``image``, labels with them.

    The donor is flipped left-right at random and shifted sideways by up to ``max_shift`` of
    the width; rows stay (the same camera films the ground at the same rows). A donor of
    another size is resized to the frame first. Returns new arrays; the inputs are not changed.
    """
    height, width = labels.shape
    if donor_labels.shape != (height, width):
        donor_image = resize_image(donor_image, height, width)
        donor_labels = resize_labels(donor_labels, height, width)
    if rng.random() < 0.5:
        donor_image, donor_labels = donor_image[:, ::-1], donor_labels[:, ::-1]
    shift = int(rng.integers(-int(width * max_shift), int(width * max_shift) + 1))
    donor_image = _padded_window(donor_image, 0, -shift, height, width, 0)
    donor_labels = _padded_window(donor_labels, 0, -shift, height, width, IGNORE_LABEL)
    mask = np.isin(donor_labels, classes)
    image, labels = image.copy(), labels.copy()
    image[mask] = donor_image[mask]
    labels[mask] = donor_labels[mask]
    return image, labels


def half_of_the_classes(labels: np.ndarray, rng: np.random.Generator) -> tuple[int, ...]:
    """ClassMix's choice: a random half (rounded up) of the classes present in ``labels``
    (void aside), so the frame it is pasted into keeps the other half's context."""
    present = np.unique(labels)
    present = present[present != IGNORE_LABEL]
    if present.size == 0:
        return ()
    chosen = rng.choice(present, size=(present.size + 1) // 2, replace=False)
    return tuple(int(c) for c in np.sort(chosen))


def jitter_colors(image: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> None:
    """Brightness, contrast, saturation, colour temperature and gamma, in place on float RGB
    in [0, 1], then clip."""
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
    if config.temperature:
        shift = rng.uniform(-config.temperature, config.temperature)
        image *= np.array([1 + shift, 1.0, 1 - shift], np.float32)
    np.clip(image, 0.0, 1.0, out=image)
    if config.gamma:
        np.power(image, np.float32(math.exp(rng.uniform(-config.gamma, config.gamma))),
                 out=image)


def degrade(image: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """What another camera adds: blur, JPEG compression, then sensor noise (float RGB in
    [0, 1]; returns a new array or ``image`` itself)."""
    if rng.random() < config.blur:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(*config.blur_sigma))
    if rng.random() < config.jpeg:
        image = jpeg_round_trip(image, int(rng.integers(config.jpeg_quality[0],
                                                        config.jpeg_quality[1] + 1)))
    if rng.random() < config.noise:
        sigma = rng.uniform(*config.noise_sigma)
        image = image + rng.normal(0.0, sigma, image.shape).astype(np.float32)
        np.clip(image, 0.0, 1.0, out=image)
    return image


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """Float RGB in [0, 1] through a JPEG encoder at ``quality`` and back."""
    encoded = jpeg(np.rint(image * 255).astype(np.uint8), quality)
    return encoded.astype(np.float32) / np.float32(255)


def augment(
    image: np.ndarray, labels: np.ndarray, height: int, width: int, config: AugmentConfig,
    rng: np.random.Generator, crop: tuple[int, int] | None = None,
    normalization: Normalization = UNIT_RANGE,
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 RGB + uint8 labels -> the model's float32 input (``normalization``, applied
    after the photometric changes in [0, 1]) and labels, both ``height x width`` (or
    ``crop``, see :func:`random_crop_resize`)."""
    image, labels = random_crop_resize(image, labels, height, width, config, rng, crop)
    if rng.random() < config.hflip:
        image, labels = image[:, ::-1], labels[:, ::-1]
    if rng.random() < config.vflip:
        image, labels = image[::-1], labels[::-1]
    pixels = normalize(image, UNIT_RANGE)
    jitter_colors(pixels, config, rng)
    pixels = degrade(pixels, config, rng)
    if normalization != UNIT_RANGE:
        normalize(pixels, normalization, out=pixels, unit_range=True)
    return np.ascontiguousarray(pixels), np.ascontiguousarray(labels)
