"""Dataset readers and the training loader on small generated folders in every layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from dataset_files import CLASS_COLORS, synthetic_pair, write_dataset

from fanet_ros.dataset_layouts import DatasetError
from fanet_training.augment import AugmentConfig, augment
from fanet_training.data import DataConfig, SegmentationDataset


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
