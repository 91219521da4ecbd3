"""INT8 calibration images: folder reading and batches equal to the node's preprocessing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fanet_ros.image_conversion import DecodedImage
from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
from fanet_ros.segmentation_pipeline import SegmentationPipeline
from fanet_ros.tensorrt.calibration_data import (
    CalibrationImages,
    ImageFolderError,
    list_images,
    read_rgb,
)


@pytest.fixture
def image_folder(tmp_path):
    """Five camera-sized images (png and jpg, one in a sub-folder) and a stray text file."""
    rng = np.random.default_rng(0)
    (tmp_path / "sub").mkdir()
    names = ["b.png", "a.jpg", "sub/c.png", "d.PNG", "e.png"]
    for name in names:
        cv2.imwrite(str(tmp_path / name), rng.integers(0, 256, (360, 480, 3), dtype=np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_images_are_listed_sorted_recursively_and_limited(image_folder):
    names = [p.relative_to(image_folder).as_posix() for p in list_images(image_folder)]
    assert names == ["a.jpg", "b.png", "d.PNG", "e.png", "sub/c.png"]
    assert len(list_images(image_folder, limit=2)) == 2


def test_missing_empty_or_unreadable_folders_name_the_problem(tmp_path):
    with pytest.raises(ImageFolderError, match="does not exist"):
        list_images(tmp_path / "nope")
    with pytest.raises(ImageFolderError, match="holds no images"):
        list_images(tmp_path)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(ImageFolderError, match="cannot read image .*broken.png"):
        read_rgb(broken)


def test_batches_are_exactly_what_the_node_feeds_the_model(image_folder, tiny_model):
    pipeline = SegmentationPipeline(OnnxRuntimeBackend(tiny_model))
    meta = pipeline.metadata
    paths = list_images(image_folder)
    images = CalibrationImages(paths, meta.input_height, meta.input_width, meta.normalization)
    batches = [b.copy() for b in images.batches(2)]
    assert images.num_batches(2) == 2 and len(batches) == 2  # the fifth image is dropped
    assert batches[0].shape == (2, 64, 96, 3) and batches[0].dtype == np.float32
    for index, path in enumerate(paths[:4]):
        bgr = cv2.imread(str(path))  # as a bgr8 camera frame reaches the node
        expected, _ = pipeline.preprocess(DecodedImage(bgr, "bgr8"))
        np.testing.assert_array_equal(batches[index // 2][index % 2], expected[0])
