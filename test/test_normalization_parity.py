"""One normalisation: training's preprocessing and the node's pipeline give identical tensors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from fanet_ros.image_conversion import DecodedImage
from fanet_ros.model_metadata import ModelMetadata, Normalization, attach_metadata
from fanet_ros.preprocessing import model_input
from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
from fanet_ros.segmentation_pipeline import SegmentationPipeline

IMAGENET = Normalization(scale=1.0 / 255.0, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def with_normalization(model: Path, normalization: Normalization, out: Path) -> Path:
    """A copy of ``model`` whose metadata carries ``normalization``."""
    proto = onnx.load(str(model))
    entry = next(p for p in proto.metadata_props if p.key == "fanet_ros")
    metadata = ModelMetadata.from_json(entry.value)
    del proto.metadata_props[:]
    attach_metadata(proto, dataclasses.replace(metadata, normalization=normalization))
    onnx.save(proto, str(out))
    return out


def camera_frame(height: int = 90, width: int = 130) -> np.ndarray:
    """An RGB frame with distinct channels, not at the model's size (the resize counts too)."""
    rng = np.random.default_rng(7)
    small = rng.integers(0, 256, (9, 13, 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


@pytest.mark.parametrize("normalization", [Normalization(), IMAGENET], ids=["default", "imagenet"])
def test_training_preprocessing_equals_the_node_pipeline(tmp_path, tiny_model, normalization):
    model = with_normalization(tiny_model, normalization, tmp_path / "model.onnx")
    pipeline = SegmentationPipeline(OnnxRuntimeBackend(model))
    assert pipeline.metadata.normalization == normalization
    rgb = camera_frame()
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    batch, _ = pipeline.preprocess(DecodedImage(bgr, "bgr8"))  # the node's path, as bgr8
    height, width = pipeline.model_size
    np.testing.assert_array_equal(model_input(rgb, height, width, normalization), batch[0])


@pytest.mark.parametrize("normalization", [Normalization(), IMAGENET], ids=["default", "imagenet"])
def test_training_loader_and_augmentation_use_the_configured_normalization(tmp_path,
                                                                         normalization):
    pytest.importorskip("keras")
    from fanet_training.augment import AugmentConfig, augment
    from fanet_training.data import DataConfig, SegmentationDataset

    rgb = camera_frame()
    labels = np.zeros(rgb.shape[:2], np.uint8)
    expected = model_input(rgb, 64, 96, normalization)
    identity = AugmentConfig(min_zoom=1.0, max_zoom=1.0, hflip=0.0, vflip=0.0, brightness=0.0,
                             contrast=0.0, saturation=0.0)
    pixels, _ = augment(rgb, labels, 64, 96, identity, np.random.default_rng(0),
                        normalization=normalization)
    np.testing.assert_allclose(pixels, expected, rtol=0, atol=1e-5)  # via [0, 1], one rounding
    root = tmp_path / "data"
    for folder, array in (("images", rgb[:, :, ::-1]), ("labels", labels)):
        (root / folder / "val").mkdir(parents=True)
        cv2.imwrite(str(root / folder / "val" / "f0.png"), array)
    config = DataConfig(str(root), "folder", 64, 96, batch_size=1, workers=0,
                        normalization=normalization)
    images, _ = SegmentationDataset(config, "val", training=False)[0]
    np.testing.assert_array_equal(np.asarray(images)[0], expected)

def test_training_config_carries_the_normalization_to_the_exported_metadata():
    pytest.importorskip("keras")
    from fanet_training.train import TrainConfig

    config = TrainConfig("fanet", "/data/camvid", "camvid", "/tmp/run")
    recorded = json.loads(json.dumps(dataclasses.asdict(config)))["normalization"]
    assert Normalization.from_dict(recorded) == Normalization()
    assert Normalization.from_dict(None) == Normalization()
