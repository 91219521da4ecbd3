"""ONNX Runtime backend, model metadata and the frame pipeline, without ROS."""

from __future__ import annotations

import threading

import numpy as np
import onnx
import pytest
from tiny_model import build_tiny_model

from fanet_ros.image_conversion import DecodedImage
from fanet_ros.labels import CITYSCAPES
from fanet_ros.model_metadata import METADATA_KEY, ModelMetadata
from fanet_ros.node.frame_slot import RoundRobinSlots
from fanet_ros.runtime import BackendConfig, ModelLoadError, create_backend
from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
from fanet_ros.segmentation_pipeline import SegmentationPipeline


def test_metadata_round_trips_through_the_onnx_file(tiny_model):
    backend = OnnxRuntimeBackend(tiny_model)
    meta = backend.metadata
    assert meta.model == "tiny" and meta.dataset == "camvid"
    assert (meta.input_height, meta.input_width) == (64, 96)
    assert ModelMetadata.from_json(meta.to_json()) == meta
    assert backend.device == "CPU"


def test_dynamic_model_runs_at_requested_multiple_of_32(tiny_model):
    backend = OnnxRuntimeBackend(tiny_model, input_size=(128, 160))
    out = backend.infer(np.zeros((1, 128, 160, 3), np.float32))
    assert out.shape == (1, 128, 160, 11)
    with pytest.raises(ModelLoadError, match="multiples of 32"):
        OnnxRuntimeBackend(tiny_model, input_size=(100, 160))


def test_fixed_size_model_refuses_another_size_with_the_fix(tmp_path):
    path = build_tiny_model(tmp_path / "fixed.onnx", 64, 96, dynamic=False)
    assert OnnxRuntimeBackend(path).input_height == 64
    with pytest.raises(ModelLoadError, match="fixed input of 64x96.*fanet-export"):
        OnnxRuntimeBackend(path, input_size=(128, 128))


def test_labels_output_model_gives_the_same_labels_as_probabilities(tmp_path, tiny_model):
    labels_model = build_tiny_model(tmp_path / "labels.onnx", output="labels")
    rng = np.random.default_rng(0)
    image = DecodedImage(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8), "rgb8")
    probs = SegmentationPipeline(OnnxRuntimeBackend(tiny_model)).predict(image)
    labels = SegmentationPipeline(OnnxRuntimeBackend(labels_model)).predict(image)
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, probs)


def test_model_without_metadata_is_refused_with_how_to_export(tmp_path, tiny_model):
    model = onnx.load(str(tiny_model))
    del model.metadata_props[:]
    path = tmp_path / "plain.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelLoadError, match=f"no '{METADATA_KEY}' metadata.*fanet-export"):
        OnnxRuntimeBackend(path)


def test_auto_backend_falls_back_to_onnxruntime_and_says_why(tiny_model):
    said: list[str] = []
    backend = create_backend(BackendConfig(model_path=tiny_model, backend="auto"), log=said.append)
    assert backend.name == "onnxruntime"
    assert "auto" in said[0] and "TensorRT" in said[0]


def test_pipeline_outputs_match_requested_resolution_and_palette(tiny_model):
    pipeline = SegmentationPipeline(OnnxRuntimeBackend(tiny_model), overlay_alpha=1.0)
    image = DecodedImage(np.full((120, 200, 3), 90, np.uint8), "bgr8")
    out = pipeline.process(image)
    assert out.labels.shape == (120, 200) and out.display_encoding == "bgr8"
    palette_bgr = np.asarray(pipeline.metadata.colors, np.uint8)[:, ::-1]
    np.testing.assert_array_equal(out.color, palette_bgr[out.labels])
    np.testing.assert_array_equal(out.overlay, out.color)  # alpha 1: colours only
    small = pipeline.process(image, want_color=False, want_overlay=False, at_input_resolution=False)
    assert small.labels.shape == (64, 96) and small.color is None and small.overlay is None


def test_invalid_metadata_is_rejected():
    with pytest.raises(ValueError, match="class names but"):
        ModelMetadata(model="x", dataset="y", class_names=("a",), colors=(), input_height=32,
                      input_width=32)
    meta = ModelMetadata.for_label_set(
        CITYSCAPES, model="fanet", input_height=512, input_width=1024
    )
    assert meta.label_set().categories == CITYSCAPES.categories


def test_a_camera_slot_keeps_only_the_newest():
    slot: RoundRobinSlots[str, int] = RoundRobinSlots(["camera"])
    assert slot.put("camera", 1) is False
    assert slot.put("camera", 2) is True and slot.put("camera", 3) is True
    assert slot.replaced == {"camera": 2}
    assert slot.take(0) == [("camera", 3)] and slot.take(0.01) == []
    got = []
    waiter = threading.Thread(target=lambda: got.append(slot.take(5)))
    waiter.start()
    slot.put("camera", 4)
    waiter.join(2)
    assert got == [[("camera", 4)]]


def test_colorizer_maps_every_id_in_both_channel_orders():
    from fanet_ros.colorize import Colorizer
    from fanet_ros.labels import CAMVID, IGNORE_LABEL

    ids = np.arange(256, dtype=np.uint8).reshape(8, 32)
    palette = np.zeros((256, 3), np.uint8)
    palette[: CAMVID.num_classes] = np.asarray(CAMVID.colors, np.uint8)  # others black
    colorize = Colorizer(CAMVID.colors)
    np.testing.assert_array_equal(colorize(ids, "rgb8"), palette[ids])
    out = np.empty((8, 32, 3), np.uint8)
    assert colorize(ids, "bgr8", out=out) is out
    np.testing.assert_array_equal(out, palette[ids][..., ::-1])
    assert not out.reshape(-1, 3)[IGNORE_LABEL].any()
