"""The Python API: the README's example, inputs, outputs at the input's size, a light import."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from fanet_ros.image_conversion import DecodedImage
from fanet_ros.runtime.base import ModelLoadError
from fanet_ros.segmentation_pipeline import SegmentationPipeline

ROOT = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## From Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    assert len(code.strip().splitlines()) == 7
    return code


def street_image(height: int = 90, width: int = 130) -> np.ndarray:
    rng = np.random.default_rng(3)
    small = rng.integers(0, 255, (height // 10 + 1, width // 10 + 1, 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def test_readme_example_runs_as_written_and_labels_are_at_the_input_size(tmp_path):
    scope: dict = {}
    exec(compile(readme_example(), "README.md (From Python)", "exec"), scope)  # as written
    image, labels, color, overlay, seg = (
        scope[k] for k in ("image", "labels", "color", "overlay", "seg"))
    assert labels.shape == image.shape[:2] and labels.dtype == np.uint8
    assert color.shape == overlay.shape == image.shape
    assert scope["result"].confidence.shape == image.shape[:2]
    assert len(seg.class_names) == len(seg.colors) == 11
    pixels = street_image()  # a BGR array, or the same frame as a file path
    cv2.imwrite(str(tmp_path / "frame.png"), pixels)
    labels = seg(pixels).labels
    np.testing.assert_array_equal(seg(str(tmp_path / "frame.png")).labels, labels)
    palette = np.asarray(seg.colors, dtype=np.uint8)[:, ::-1]  # BGR input: BGR colours
    known = labels != 255
    np.testing.assert_array_equal(seg(pixels).color[known], palette[labels[known]])


def test_labels_equal_the_pipeline_the_node_runs(tiny_model):
    from fanet_ros import Segmenter

    seg = Segmenter(tiny_model, backend="onnxruntime", device=-1)
    pixels = street_image(120, 160)
    result = seg(pixels[:, :, ::-1].copy(), encoding="rgb8", confidence=True)
    from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend

    pipeline = SegmentationPipeline(OnnxRuntimeBackend(tiny_model))
    expected = pipeline.process(DecodedImage(pixels, "bgr8"), want_confidence=True)
    np.testing.assert_array_equal(result.labels, expected.labels)
    np.testing.assert_array_equal(result.confidence, expected.confidence)
    assert result.encoding == "rgb8"
    assert sum(result.class_fractions().values()) == pytest.approx(
        np.count_nonzero(result.labels != 255) / result.labels.size)


def test_mono_and_four_channel_inputs(tiny_model):
    from fanet_ros import Segmenter

    seg = Segmenter(str(tiny_model), device=-1)
    gray = street_image()[:, :, 0]
    assert seg(gray).labels.shape == gray.shape
    np.testing.assert_array_equal(seg(gray[:, :, None]).labels, seg(gray).labels)
    bgra = cv2.cvtColor(street_image(), cv2.COLOR_BGR2BGRA)
    result = seg(bgra, encoding="bgra8")
    assert result.labels.shape == bgra.shape[:2] and result.overlay.shape[2] == 3


def test_bad_inputs_say_what_is_expected(tiny_model, tmp_path):
    from fanet_ros import Segmenter

    seg = Segmenter(tiny_model, device=-1)
    with pytest.raises(TypeError, match="uint8"):
        seg(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match=r"rgba8 image is \[H, W, 4\]"):
        seg(np.zeros((10, 10, 3), np.uint8), encoding="rgba8")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        seg(tmp_path / "missing.png")
    with pytest.raises(ModelLoadError, match="shipped: .*fanet_camvid"):
        Segmenter("fsffnet_kitti")


def test_shipped_model_by_name(tmp_path, monkeypatch):
    from fanet_ros import Segmenter
    from fanet_ros.shipped_models import resolve_model, shipped_model_path

    seg = Segmenter("fanet_synthetic", device=-1)
    assert seg.model_path.name == "fanet_synthetic.onnx"
    monkeypatch.chdir(tmp_path)  # the shipped file's own name, none such here: the shipped one
    assert resolve_model("fanet_synthetic.onnx") == shipped_model_path("fanet", "synthetic")
    assert resolve_model("./fanet_synthetic.onnx") == Path("fanet_synthetic.onnx")  # a path
    (tmp_path / "fanet_synthetic.onnx").write_bytes(b"")
    assert resolve_model("fanet_synthetic.onnx") == Path("fanet_synthetic.onnx")  # the file here


def test_importing_the_package_loads_no_runtime():
    code = ("import sys, fanet_ros; "
            "print(sorted(m for m in ('onnxruntime', 'cv2', 'rclpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_a_probabilities_models_confidence_is_its_winning_probability(tmp_path):
    from tiny_model import build_tiny_model

    from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend

    pipeline = SegmentationPipeline(OnnxRuntimeBackend(
        build_tiny_model(tmp_path / "probabilities.onnx", output="probabilities")))
    image = DecodedImage(street_image(64, 96), "bgr8")
    batch, _ = pipeline.preprocess(image)
    expected = np.rint(pipeline.backend.infer(batch)[0].max(axis=-1) * 255.0).astype(np.uint8)
    out = pipeline.process(image, at_input_resolution=False, want_confidence=True)
    np.testing.assert_array_equal(out.confidence, expected)
    assert out.confidence.std() > 0  # a varied image, not a constant


def test_one_segmenter_shared_by_threads_gives_each_call_its_own_labels():
    """Before: calls shared the pipeline's input and output buffers, and one thread's frame
    was overwritten while another's ran (12 of 60 results wrong in a review's run)."""
    from concurrent.futures import ThreadPoolExecutor

    from fanet_ros import Segmenter

    seg = Segmenter("fanet_synthetic", device=-1, num_threads=1)
    rng = np.random.default_rng(0)
    frames = [cv2.resize(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8), (640, 480))
              for _ in range(2)]
    expected = [seg(frame).labels for frame in frames]
    assert not np.array_equal(*expected)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda k: (k % 2, seg(frames[k % 2]).labels), range(60)))
    assert all(np.array_equal(labels, expected[k]) for k, labels in results)


def test_the_overlay_shows_the_frame_that_was_segmented_though_the_caller_reused_it(tiny_model):
    from fanet_ros import Segmenter

    seg = Segmenter(tiny_model, device=-1)
    frame = street_image()
    expected = seg(frame.copy()).overlay
    result = seg(frame)
    frame[:] = 0  # the caller reads the next frame into the same buffer
    np.testing.assert_array_equal(result.overlay, expected)


def test_one_input_side_alone_is_refused_naming_both(tiny_model):
    from fanet_ros import Segmenter

    with pytest.raises(ValueError, match="set both input_height and input_width, or neither"):
        Segmenter(tiny_model, device=-1, input_height=64)
