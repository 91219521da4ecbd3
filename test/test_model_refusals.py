"""Models whose metadata or weights cannot give right labels are refused at load, naming the
file and the field; a model whose output turns NaN on some frames loses those frames only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper
from tiny_model import build_tiny_model

from fanet_ros.image_conversion import DecodedImage
from fanet_ros.model_metadata import METADATA_KEY, Normalization
from fanet_ros.runtime import BackendConfig, ModelLoadError, create_backend
from fanet_ros.runtime.base import NonFiniteOutputError
from fanet_ros.segmentation_pipeline import SegmentationPipeline


def _metadata(model: onnx.ModelProto) -> dict:
    return json.loads(next(p.value for p in model.metadata_props if p.key == METADATA_KEY))


def with_metadata_changed(source: Path, dest: Path, **changes) -> Path:
    """``source`` with fields of its metadata JSON replaced (no validation on the way)."""
    model = onnx.load(str(source))
    data = {**_metadata(model), **changes}
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            prop.value = json.dumps(data)
    onnx.save(model, str(dest))
    return dest


def nan_on_content(source: Path, dest: Path) -> Path:
    """``source`` behind ``sqrt(-image)``: finite on a blank frame, NaN on any other."""
    model = onnx.load(str(source))
    graph = model.graph
    for node in graph.node:
        node.input[:] = ["rooted" if name == "image" else name for name in node.input]
    graph.node.insert(0, helper.make_node("Sqrt", ["negated"], ["rooted"]))
    graph.node.insert(0, helper.make_node("Neg", ["image"], ["negated"]))
    onnx.save(model, str(dest))
    return dest


def _load(path: Path):
    return create_backend(BackendConfig(model_path=path, backend="onnxruntime"))


def _names(n: int) -> list[str]:
    return [f"c{i}" for i in range(n)]


def _greys(n: int) -> list[list[int]]:
    return [[i % 256] * 3 for i in range(n)]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"normalization": {"scale": 1 / 255, "mean": [0, 0, 0], "std": [0.2, 0.0, 0.2]}},
         "normalization.std [0.2, 0.0, 0.2]: must be positive"),
        ({"normalization": {"scale": float("nan"), "mean": [0, 0, 0], "std": [1, 1, 1]}},
         "normalization.scale nan: must be a positive number"),
        ({"normalization": {"scale": 1, "mean": [0, 0], "std": [1, 1, 1]}},
         "normalization.mean: 3 values (R, G, B), not 2"),
        ({"class_names": _names(256), "colors": _greys(256)},
         "class_names: 256 classes; 1..255 are supported"),
        ({"class_names": _names(300), "colors": _greys(300)},
         "class_names: 300 classes; 1..255 are supported"),
        ({"ignore_label": 3}, "ignore_label 3: must be 11..255"),
        ({"ignore_label": 300}, "ignore_label 300: must be 11..255"),
        ({"color_order": "BGR"}, "color_order 'BGR' (only RGB is supported)"),
        ({"colors": [[300, 0, 0]] + _greys(10)}, "colors[0] = [300, 0, 0]: a colour is 3 whole"),
        ({"colors": _greys(10) + [[0, -1, 0]]}, "colors[10] = [0, -1, 0]"),
        ({"colors": _greys(10) + [[0, 0]]}, "colors[10] = [0, 0]"),
        ({"colors": _greys(10) + ["red"]}, "colors[10] must be a list of 3 numbers, not 'red'"),
    ],
)
def test_unusable_metadata_is_refused_naming_the_file_and_the_field(
    tiny_model, tmp_path, changes, expected
):
    broken = with_metadata_changed(tiny_model, tmp_path / "broken.onnx", **changes)
    with pytest.raises(ModelLoadError) as info:
        _load(broken)
    message = str(info.value)
    assert str(broken) in message and expected in message and "fanet-export" in message
    assert "Error" not in message.replace("ModelLoadError", "")  # no raw exception text


def test_a_model_with_nan_weights_is_refused_at_load(tmp_path):
    model = onnx.load(str(build_tiny_model(tmp_path / "tiny.onnx")))
    for tensor in model.graph.initializer:
        if tensor.name == "w":
            weights = numpy_helper.to_array(tensor).copy()
            weights[0, 0, 0, 0] = np.nan
            tensor.CopyFrom(numpy_helper.from_array(weights, "w"))
    broken = tmp_path / "nan.onnx"
    onnx.save(model, str(broken))
    with pytest.raises(ModelLoadError) as info:
        _load(broken)
    message = str(info.value)
    assert str(broken) in message and "NaN" in message and "for a blank frame" in message


def test_a_frame_whose_output_is_not_finite_raises_instead_of_labelling_it(tiny_model, tmp_path):
    pipeline = SegmentationPipeline(_load(nan_on_content(tiny_model, tmp_path / "nan.onnx")))
    blank = DecodedImage(np.zeros((64, 96, 3), np.uint8), "rgb8")
    assert pipeline.process(blank).labels.shape == (64, 96)
    with pytest.raises(NonFiniteOutputError, match=r"holds \d+ NaN and 0 infinite values"):
        pipeline.process(DecodedImage(np.full((64, 96, 3), 9, np.uint8), "rgb8"))


def test_normalization_of_a_training_config_is_checked_the_same_way():
    with pytest.raises(ValueError, match="normalization.std must be a list of numbers"):
        Normalization.from_dict({"std": 0.5})
    assert Normalization.from_dict({"mean": [0.5, 0.5, 0.5]}).mean == (0.5, 0.5, 0.5)
