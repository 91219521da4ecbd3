"""Dataset readers and the training loader on small generated folders in every layout."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fanet_ros.dataset_layouts import DatasetError
from fanet_training.augment import AugmentConfig, augment
from fanet_training.data import DataConfig, SegmentationDataset

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


@pytest.mark.parametrize("layout", ["camvid", "cityscapes", "bdd100k", "folder"])
def test_loader_reads_every_layout(tmp_path: Path, layout: str) -> None:
    write_dataset(tmp_path, layout, count=3, height=48, width=80)
    config = DataConfig(str(tmp_path), layout, height=64, width=96, batch_size=2, workers=0)
    val = SegmentationDataset(config, "val", training=False)
    assert len(val) == 2  # 3 images, last batch partial
    images, labels = val[0]
    assert images.shape == (2, 64, 96, 3) and images.dtype == np.float32
    assert labels.shape == (2, 64, 96) and labels.dtype == np.uint8
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert set(np.unique(labels)) <= {0, 1, 2, 3, 255}
    assert (labels[:, 0] == 255).all()  # void border survives every layout's decoding
    train = SegmentationDataset(config, "train", training=True)
    assert len(train) == 1 and train[0][0].shape == (2, 64, 96, 3)


def test_corrupt_image_is_named_or_counted(tmp_path: Path) -> None:
    write_dataset(tmp_path, "camvid", count=3, splits=("train",))
    corrupt = tmp_path / "train" / "frame_001.png"
    corrupt.write_bytes(b"not a png")
    config = DataConfig(str(tmp_path), "camvid", 64, 64, batch_size=3, workers=0)
    with pytest.raises(DatasetError, match="frame_001.png"):
        SegmentationDataset(config, "train", training=True)[0]
    skipping = SegmentationDataset(
        DataConfig(str(tmp_path), "camvid", 64, 64, batch_size=3, workers=0, skip_corrupt=True),
        "train", training=True)
    images, _ = skipping[0]
    assert images.shape[0] == 3 and skipping.skipped == {"frame_001"}


def test_cache_keeps_decoded_images(tmp_path: Path) -> None:
    write_dataset(tmp_path, "folder", count=2, splits=("val",))
    config = DataConfig(str(tmp_path), "folder", 64, 64, batch_size=2, workers=0, cache=True)
    val = SegmentationDataset(config, "val", training=False)
    first = val[0]
    for sample in val.samples:  # served from memory once decoded
        sample.image_path.unlink()
    np.testing.assert_array_equal(val[0][0], first[0])


def test_augment_keeps_pixels_and_labels_aligned() -> None:
    rng = np.random.default_rng(1)
    image, labels = synthetic_pair(rng, 60, 80)
    no_jitter = AugmentConfig(brightness=0, contrast=0, saturation=0)
    for seed in range(5):
        pixels, out_labels = augment(image, labels, 64, 96, no_jitter, np.random.default_rng(seed))
        assert pixels.shape == (64, 96, 3) and out_labels.shape == (64, 96)
        inside = out_labels != 255
        expected = CLASS_COLORS[out_labels[inside]] / 255.0
        # Nearest labels vs area/bilinear pixels differ only along edges.
        close = np.abs(pixels[inside] - expected).max(axis=1) < 0.05
        assert close.mean() > 0.9
    jittered, _ = augment(image, labels, 64, 96, AugmentConfig(brightness=0.5), rng)
    assert 0.0 <= jittered.min() and jittered.max() <= 1.0
