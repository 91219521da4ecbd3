"""Small generated datasets on disk, in every layout the loaders read (no training imports,
so evaluation tests use them without Keras)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

CLASS_COLORS = np.array([(200, 40, 40), (40, 200, 40), (40, 40, 200), (220, 220, 60)], np.uint8)
"""RGB colour of each synthetic class: the image tells the class, so a model can learn it."""


def synthetic_pair(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray,
                                                                             np.ndarray]:
    """An RGB image of coloured rectangles and its class-id map (with a void border)."""
    labels = np.zeros((height, width), np.uint8)
    for cls in range(1, len(CLASS_COLORS)):
        for _ in range(2):
            h, w = rng.integers(height // 4, height // 2), rng.integers(width // 4, width // 2)
            top, left = rng.integers(0, height - h), rng.integers(0, width - w)
            labels[top:top + h, left:left + w] = cls
    image = CLASS_COLORS[labels]
    labels[:2] = 255
    return image, labels


def _label_file(layout: str, labels: np.ndarray) -> np.ndarray:
    if layout == "camvid":
        return np.where(labels == 255, 11, labels).astype(np.uint8)
    if layout == "cityscapes":  # labelIds: road 7, sidewalk 8, building 11, wall 12; void 0
        return np.array([7, 8, 11, 12] + [0] * 252, np.uint8)[np.minimum(labels, 4)]
    return labels


def _paths(root: Path, layout: str, split: str, name: str) -> tuple[Path, Path]:
    if layout == "camvid":
        return root / split / f"{name}.png", root / f"{split}annot" / f"{name}.png"
    if layout == "cityscapes":
        city = root / "{}" / split / "aachen"
        return (Path(str(city).format("leftImg8bit")) / f"{name}_leftImg8bit.png",
                Path(str(city).format("gtFine")) / f"{name}_gtFine_labelIds.png")
    if layout == "bdd100k":
        return (root / "images" / "10k" / split / f"{name}.jpg",
                root / "labels" / "sem_seg" / "masks" / split / f"{name}.png")
    return root / "images" / split / f"{name}.png", root / "labels" / split / f"{name}.png"


def write_dataset(root: Path, layout: str = "folder", count: int = 4, height: int = 64,
                  width: int = 64, splits: tuple[str, ...] = ("train", "val"),
                  seed: int = 0) -> Path:
    """Write ``count`` synthetic image/label pairs per split in ``layout``; returns ``root``."""
    rng = np.random.default_rng(seed)
    for split in splits:
        for i in range(count):
            image, labels = synthetic_pair(rng, height, width)
            image_path, label_path = _paths(root, layout, split, f"frame_{i:03d}")
            image_path.parent.mkdir(parents=True, exist_ok=True)
            label_path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(image_path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            cv2.imwrite(str(label_path), _label_file(layout, labels))
    return root
