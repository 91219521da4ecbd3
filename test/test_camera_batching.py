"""Serving several cameras from one model: fair newest-frame slots, batched inference, names."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from fanet_ros.image_conversion import DecodedImage
from fanet_ros.node.batch_runner import BatchRunner, FrameRequest, batch_capacity
from fanet_ros.node.frame_slot import RoundRobinSlots
from fanet_ros.node.node_parameters import PARAMETERS_BY_NAME
from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
from fanet_ros.segmentation_pipeline import SegmentationPipeline
from fanet_ros.shipped_models import resolve_model


def test_slots_keep_each_cameras_newest_frame_and_serve_cameras_in_turn():
    slots: RoundRobinSlots[str, int] = RoundRobinSlots(["front", "rear", "left"])
    for frame in range(5):  # a fast front camera...
        slots.put("front", frame)
    slots.put("rear", 100)
    assert slots.replaced == {"front": 4, "rear": 0, "left": 0}
    assert slots.take(0, limit=1) == [("front", 4)]
    slots.put("front", 5)  # ...never starves the rear one: it is served next
    assert slots.take(0, limit=1) == [("rear", 100)]
    assert slots.take(0, limit=1) == [("front", 5)]
    slots.put("left", 7)
    slots.put("front", 6)
    assert slots.take(0, limit=8) == [("left", 7), ("front", 6)]  # every ready camera at once
    assert slots.take(0.01) == []


def test_a_waiting_taker_wakes_for_any_camera_and_on_close():
    slots: RoundRobinSlots[str, int] = RoundRobinSlots(["front", "rear"])
    got: list = []
    taker = threading.Thread(target=lambda: got.append(slots.take(5.0)))
    taker.start()
    slots.put("rear", 1)
    taker.join(2.0)
    assert got == [[("rear", 1)]]
    taker = threading.Thread(target=lambda: got.append(slots.take(30.0)))
    taker.start()
    slots.close()
    taker.join(2.0)
    assert not taker.is_alive() and got[-1] == []


@pytest.fixture(scope="module")
def backend() -> OnnxRuntimeBackend:
    """The shipped synthetic model: its batch dimension is dynamic."""
    return OnnxRuntimeBackend(resolve_model("fanet_synthetic"), num_threads=1)


def frames(count: int) -> list[DecodedImage]:
    rng = np.random.default_rng(3)
    return [DecodedImage(rng.integers(0, 255, (120, 160, 3), np.uint8), "rgb8")
            for _ in range(count)]


def test_frames_of_several_cameras_run_as_one_batch_with_the_single_frame_results(backend):
    calls: list[int] = []
    infer = backend.infer
    runner = BatchRunner(backend)
    assert runner.capacity > 3
    backend.infer = lambda batch: calls.append(len(batch)) or infer(batch)  # type: ignore
    try:
        pipelines = [SegmentationPipeline(backend) for _ in range(3)]
        images = frames(3)
        results = runner.run([FrameRequest(p, image, want_confidence=True)
                              for p, image in zip(pipelines, images)])
    finally:
        del backend.infer
    assert calls == [3]
    for pipeline, image, result in zip(pipelines, images, results):
        alone = SegmentationPipeline(backend).process(image, want_confidence=True)
        np.testing.assert_array_equal(result.labels, alone.labels)
        np.testing.assert_array_equal(result.color, alone.color)
        np.testing.assert_array_equal(result.overlay, alone.overlay)
        np.testing.assert_array_equal(result.confidence, alone.confidence)
        assert {"preprocess", "inference", "postprocess"} <= set(pipeline.times.total)


def test_a_batch_1_model_runs_the_cameras_one_after_another(tiny_model):
    backend = OnnxRuntimeBackend(tiny_model)  # exported with batch 1 fixed
    assert batch_capacity(backend) == 1
    runner = BatchRunner(backend)
    pipelines = [SegmentationPipeline(backend) for _ in range(2)]
    images = frames(2)
    results = runner.run([FrameRequest(p, image) for p, image in zip(pipelines, images)])
    for image, result in zip(images, results):
        alone = SegmentationPipeline(backend).process(image)
        np.testing.assert_array_equal(result.labels, alone.labels)


@pytest.mark.parametrize(("value", "problem"), [
    ([], None),
    (["front", "rear"], None),
    (["front", "front"], "twice"),
    (["front/left"], "cannot be part of a topic name"),
    (["2nd"], "cannot be part of a topic name"),
    ("front", "must be a list of names"),
])
def test_camera_names_are_checked(value, problem):
    reason = PARAMETERS_BY_NAME["cameras"].check(value)
    assert (reason is None) if problem is None else (problem in reason)
