"""Resolution chosen at run time: the shipped models at several sizes, on ONNX Runtime and
(through the fakes) TensorRT, and the rule a size must follow."""

from __future__ import annotations

import numpy as np
import pytest

from fanet_ros.runtime import BackendConfig, ModelLoadError, create_backend
from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
from fanet_ros.segmenter import Segmenter
from fanet_ros.shipped_models import resolve_model
from fanet_ros.synthetic import generate_drive

SIZES = [(256, 512), (288, 384), (480, 640)]
"""Off the shipped models' native sizes; 288 and 480 rows make odd pyramid levels (9 and 15
rows at stride 32), where a fixed-size graph's resize factors and pooling pads would be wrong."""


@pytest.mark.parametrize("name, native", [("fanet_camvid", (384, 512)),
                                          ("fanet_synthetic", (192, 256))])
def test_shipped_models_run_at_any_multiple_of_32_and_keep_their_default(name, native):
    default = OnnxRuntimeBackend(resolve_model(name))
    assert default.metadata.dynamic_size
    assert (default.input_height, default.input_width) == native  # trained and checked at
    for height, width in SIZES:
        backend = OnnxRuntimeBackend(resolve_model(name), input_size=(height, width))
        logits = backend.infer(np.zeros((1, height, width, 3), np.float32))
        assert logits.shape == (1, height // 8, width // 8, backend.metadata.num_classes)


def test_labels_at_another_size_are_those_of_the_model_run_at_that_size():
    """The synthetic model at 288x384 on a 288x384 street scene: the scene's labels come out
    mostly right (a graph valid only at 192x256 would misplace the coarse levels)."""
    rgb, truth = next(iter(generate_drive(7, 1, height=288, width=384)))
    with Segmenter("fanet_synthetic", backend="onnxruntime", device=-1,
                   input_height=288, input_width=384) as segmenter:
        labels = segmenter(rgb, "rgb8").labels
    assert labels.shape == truth.shape
    valid = truth != 255
    assert np.mean(labels[valid] == truth[valid]) > 0.6


def test_segmenter_takes_the_size_and_answers_at_the_image_size():
    image = np.zeros((360, 480, 3), np.uint8)
    with Segmenter("fanet_camvid", backend="onnxruntime", device=-1,
                   input_height=256, input_width=352) as segmenter:
        assert (segmenter.backend.input_height, segmenter.backend.input_width) == (256, 352)
        assert segmenter(image).labels.shape == (360, 480)


@pytest.mark.parametrize("size, nearest", [((300, 400), "288x384"), ((16, 640), "32x640")])
def test_a_size_off_the_rule_is_refused_naming_the_rule(size, nearest):
    config = BackendConfig(model_path=resolve_model("fanet_camvid"), backend="onnxruntime",
                           input_height=size[0], input_width=size[1])
    with pytest.raises(ModelLoadError, match="multiples of 32") as error:
        create_backend(config)
    assert f"{size[0]}x{size[1]}" in str(error.value)
    if nearest:
        assert f"nearest allowed size is {nearest}" in str(error.value)


def test_tensorrt_builds_one_engine_per_size_and_caches_it_under_the_size(fake_gpu, tmp_path):
    trt, _ = fake_gpu()
    cache = tmp_path / "engines"

    def backend(height: int, width: int):
        return create_backend(BackendConfig(
            model_path=resolve_model("fanet_synthetic"), backend="tensorrt", precision="fp32",
            engine_cache_dir=str(cache), input_height=height, input_width=width))

    for height, width in [(256, 512), (288, 384)]:
        engine = backend(height, width)
        assert (engine.input_height, engine.input_width) == (height, width)
        out = engine.infer(np.zeros((1, height, width, 3), np.float32))
        assert out.shape == (1, height // 8, width // 8, 11)
        assert f"_{height}x{width}_fp32_" in engine.engine_path.name
        engine.close()
    shape = (1, 288, 384, 3)
    assert trt.profiles[-1] == (shape, shape, shape)  # min = opt = max: the chosen size only
    assert len(trt.builds) == 2 and len(list(cache.glob("*.engine"))) == 2
    again = backend(256, 512)  # the first size again: loaded, not rebuilt
    assert len(trt.builds) == 2 and "_256x512_" in again.engine_path.name
    again.close()
