"""Labels from stride-8 logits equal a full-resolution bilinear Resize + ArgMax, pixel for pixel."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from tiny_model import build_tiny_model

from fanet_ros.image_conversion import DecodedImage
from fanet_ros.label_upsampling import LogitsUpsampler
from fanet_ros.preprocessing import upsampled_probabilities
from fanet_ros.runtime.base import labels_from_output
from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
from fanet_ros.segmentation_pipeline import SegmentationPipeline
from fanet_ros.shipped_models import shipped_model_path
from fanet_ros.synthetic import generate_drive

TIE = 1e-4
"""Pixels whose best two interpolated logits are closer than this may differ (rounding)."""


@pytest.fixture(scope="module")
def resize_head() -> ort.InferenceSession:
    """The full-resolution head as exported models have it: Resize (linear, half_pixel) on
    NCHW logits, then the interpolated logits themselves (the arg-max is taken here)."""
    graph = helper.make_graph(
        [
            helper.make_node("Transpose", ["logits"], ["nchw"], perm=[0, 3, 1, 2]),
            helper.make_node("Resize", ["nchw", "", "", "sizes"], ["up"], mode="linear",
                             coordinate_transformation_mode="half_pixel"),
            helper.make_node("Transpose", ["up"], ["scores"], perm=[0, 2, 3, 1]),
        ],
        "resize_head",
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, "h", "w", "c"]),
         helper.make_tensor_value_info("sizes", TensorProto.INT64, [4])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def full_resolution(session: ort.InferenceSession, logits: np.ndarray,
                    size: tuple[int, int]) -> np.ndarray:
    sizes = np.array([1, logits.shape[-1], *size], np.int64)
    return session.run(None, {"logits": logits[None], "sizes": sizes})[0][0]


def assert_labels_match(labels: np.ndarray, scores: np.ndarray) -> None:
    """``labels`` equal ``scores.argmax(-1)`` except where the best two are a near tie."""
    expected = scores.argmax(-1)
    top2 = np.sort(scores, axis=-1)[..., -2:]
    differ = labels != expected
    assert not (differ & (top2[..., 1] - top2[..., 0] > TIE)).any(), (
        f"{differ.sum()} pixels differ, not all near ties")
    assert differ.mean() < 1e-4


def smooth_logits(rng: np.random.Generator, h: int, w: int, classes: int) -> np.ndarray:
    """Logits that form regions (as a network's do), not per-pixel noise."""
    coarse = rng.normal(0, 3, (max(2, h // 12), max(2, w // 12), classes)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, classes)


@pytest.mark.parametrize(
    ("low", "size"),
    [
        ((48, 64), (384, 512)),     # stride 8: the model's own input size
        ((64, 128), (1024, 2048)),  # a 512x1024 model's logits at a 2 MP camera
        ((48, 64), (480, 640)),     # non-integer scale (10x)
        ((48, 64), (361, 479)),     # odd sizes, scales 7.52 and 7.48
        ((5, 7), (37, 53)),         # few source pixels: most output pixels near an edge
        ((6, 9), (6, 9)),           # same size
        ((12, 16), (7, 11)),        # smaller than the logits
        ((1, 4), (8, 32)),          # one source row
    ],
)
def test_labels_equal_full_resolution_resize_and_argmax(resize_head, low, size):
    upsampler = LogitsUpsampler()
    rng = np.random.default_rng(sum(low) + sum(size))
    for logits in (smooth_logits(rng, *low, 11),
                   rng.normal(0, 1, (*low, 4)).astype(np.float32)):  # noise: boundary everywhere
        found = upsampler.refine(logits, size)
        assert found.labels.shape == size and found.labels.dtype == np.uint8
        assert_labels_match(found.labels, full_resolution(resize_head, logits, size))
        assert_labels_match(labels_from_output(logits[None], "logits", size),
                            full_resolution(resize_head, logits, size))


def test_only_boundary_pixels_are_interpolated(resize_head):
    rng = np.random.default_rng(1)
    logits = smooth_logits(rng, 64, 128, 11)
    found = LogitsUpsampler().refine(logits, (512, 1024))
    assert 0 < found.boundary_pixels < 0.5 * found.labels.size
    # edge pixels (clamped sampling) on all four sides agree with the reference
    expected = full_resolution(resize_head, logits, (512, 1024)).argmax(-1)
    for edge in (np.s_[0], np.s_[-1], np.s_[:, 0], np.s_[:, -1]):
        np.testing.assert_array_equal(found.labels[edge], expected[edge])


def test_opencv_bilinear_is_the_same_half_pixel_resize(resize_head):
    """What the docs claim: cv2.INTER_LINEAR samples as ONNX Resize half_pixel does."""
    logits = np.random.default_rng(2).normal(0, 1, (6, 10, 3)).astype(np.float32)
    opencv = cv2.resize(logits, (77, 45), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(opencv, full_resolution(resize_head, logits, (45, 77)),
                               atol=1e-5)



@pytest.mark.parametrize("classes", [11, 1])
def test_upsampled_probabilities_are_the_softmax_of_the_full_resolution_resize(
        resize_head, classes):
    """What distillation's teacher and the confidence benchmark take as the exact answer."""
    logits = np.random.default_rng(3).normal(0, 3, (6, 10, classes)).astype(np.float32)
    probabilities = upsampled_probabilities(logits, 45, 77)
    scores = full_resolution(resize_head, logits, (45, 77))
    exp = np.exp(scores - scores.max(-1, keepdims=True))
    assert probabilities.shape == (45, 77, classes) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities, exp / exp.sum(-1, keepdims=True), atol=1e-5)

@pytest.mark.parametrize("size", [(384, 512), (720, 1280)])
def test_shipped_model_labels_equal_its_full_resolution_head(resize_head, size):
    backend = OnnxRuntimeBackend(shipped_model_path())
    assert backend.metadata.output == "logits"
    pipeline = SegmentationPipeline(backend)
    h, w = backend.input_height, backend.input_width
    for rgb, _ in generate_drive(3, 3, height=h, width=w):
        batch, _ = pipeline.preprocess(DecodedImage(rgb, "rgb8"))
        logits = backend.infer(batch)[0]
        assert logits.shape == (h // 8, w // 8, backend.metadata.num_classes)
        labels = LogitsUpsampler().labels(logits, size)
        assert_labels_match(labels, full_resolution(resize_head, logits, size))


def test_confidence_is_exact_at_the_boundary_and_close_elsewhere(resize_head):
    rng = np.random.default_rng(4)
    logits = smooth_logits(rng, 48, 64, 11)
    upsampler = LogitsUpsampler()
    found = upsampler.refine(logits, (384, 512))
    confidence = upsampler.confidence(found)
    scores = full_resolution(resize_head, logits, (384, 512))
    exp = np.exp(scores - scores.max(-1, keepdims=True))
    exact = np.rint(255.0 / exp.sum(-1)).astype(int)
    boundary = np.zeros(confidence.shape, bool)
    boundary[found.rows[:, :, None], found.cols[:, None, :]] = True
    error = np.abs(confidence.astype(int) - exact)
    assert error[boundary].max() <= 1  # float rounding at .5 only
    assert np.percentile(error[~boundary], 99) <= 6 and error[~boundary].mean() < 1.5
    assert confidence.dtype == np.uint8 and confidence.min() >= 255 // 11


def test_pipeline_with_a_logits_model(tmp_path: Path, resize_head):
    model = build_tiny_model(tmp_path / "logits.onnx", output="logits")
    backend = OnnxRuntimeBackend(model)
    pipeline = SegmentationPipeline(backend, overlay_alpha=1.0)
    base = np.random.default_rng(5).integers(0, 255, (12, 16, 3), dtype=np.uint8)
    image = DecodedImage(cv2.resize(base, (200, 120), interpolation=cv2.INTER_LINEAR), "bgr8")
    out = pipeline.process(image, want_confidence=True)
    batch, _ = pipeline.preprocess(image)
    logits = backend.infer(batch)[0]
    assert logits.shape[:2] == (8, 12)
    assert out.labels.shape == (120, 200) and out.confidence.shape == (120, 200)
    assert_labels_match(out.labels, full_resolution(resize_head, logits, (120, 200)))
    palette_bgr = np.asarray(pipeline.metadata.colors, np.uint8)[:, ::-1]
    np.testing.assert_array_equal(out.color, palette_bgr[out.labels])
    np.testing.assert_array_equal(out.overlay, out.color)
    small = pipeline.process(image, want_overlay=False, at_input_resolution=False)
    assert small.labels.shape == (64, 96) and small.confidence is None
    np.testing.assert_array_equal(small.labels, pipeline.predict(image))


def test_labels_model_has_no_confidence(tmp_path: Path):
    model = build_tiny_model(tmp_path / "labels.onnx", output="labels")
    pipeline = SegmentationPipeline(OnnxRuntimeBackend(model))
    out = pipeline.process(DecodedImage(np.zeros((64, 96, 3), np.uint8), "rgb8"),
                           want_confidence=True)
    assert out.confidence is None and out.labels.shape == (64, 96)
