"""A model is checked against its metadata at load, and every refusal names the file, the
field and the fix (a 3-channel model labelled with 11 classes used to load and say OK)."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper
from ros_harness import exit_code, start_node_process
from tiny_model import build_tiny_model

from fanet_ros.labels import CAMVID, CITYSCAPES, LabelSet
from fanet_ros.model_metadata import METADATA_KEY, ModelMetadata, attach_metadata
from fanet_ros.runtime import BackendConfig, ModelLoadError, create_backend
from fanet_ros.shipped_models import available_shipped_models

THREE_CLASSES = LabelSet("three", ("a", "b", "c"), ((0, 0, 0), (1, 1, 1), (2, 2, 2)))


def _with_metadata(source: Path, dest: Path, **changes) -> Path:
    """``source`` with its metadata replaced by CamVid's, changed as given."""
    model = onnx.load(str(source))
    fields = {"model": "tiny", "input_height": 64, "input_width": 96, "dynamic_size": True}
    attach_metadata(model, ModelMetadata.for_label_set(CAMVID, **{**fields, **changes}))
    onnx.save(model, str(dest))
    return dest


def _with_raw_metadata(source: Path, dest: Path, text: str) -> Path:
    model = onnx.load(str(source))
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            prop.value = text
    onnx.save(model, str(dest))
    return dest


def _load(path: Path):
    return create_backend(BackendConfig(model_path=path, backend="onnxruntime"))


def test_output_channels_that_contradict_the_class_count_stop_loading(tmp_path):
    three = build_tiny_model(tmp_path / "three.onnx", label_set=THREE_CLASSES)
    lying = _with_metadata(three, tmp_path / "lying.onnx")
    with pytest.raises(ModelLoadError) as info:
        _load(lying)
    message = str(info.value)
    assert str(lying) in message
    assert "3 channels" in message and "11 classes" in message and "fanet-export" in message


def test_class_count_checked_for_a_fixed_size_model_too(tmp_path):
    fixed = build_tiny_model(tmp_path / "fixed.onnx", dynamic=False)
    lying = tmp_path / "lying.onnx"
    model = onnx.load(str(fixed))
    attach_metadata(model, ModelMetadata.for_label_set(
        CITYSCAPES, model="tiny", input_height=64, input_width=96))
    onnx.save(model, str(lying))
    with pytest.raises(ModelLoadError, match="11 channels but the metadata lists 19 classes"):
        _load(lying)


def test_fixed_input_size_that_contradicts_the_metadata_stops_loading(tmp_path):
    fixed = build_tiny_model(tmp_path / "fixed.onnx", dynamic=False)
    lying = _with_metadata(fixed, tmp_path / "lying.onnx", input_height=128, input_width=160,
                           dynamic_size=False)
    with pytest.raises(ModelLoadError, match="input is 64x96 .* metadata says .* 128x160"):
        _load(lying)


def test_a_fixed_batch_other_than_1_stops_loading(tmp_path):
    model = onnx.load(str(build_tiny_model(tmp_path / "tiny.onnx")))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 4
    onnx.save(model, str(tmp_path / "batch4.onnx"))
    with pytest.raises(ModelLoadError, match="fixed batch of 4 .* batch of 1 or a dynamic"):
        _load(tmp_path / "batch4.onnx")


def test_a_model_with_fp16_input_stops_loading_naming_the_file_and_the_fix(tmp_path):
    model = onnx.load(str(build_tiny_model(tmp_path / "tiny.onnx")))
    image = model.graph.input[0]
    image.type.tensor_type.elem_type = TensorProto.FLOAT16
    for node in model.graph.node:  # the graph itself stays float32 behind a Cast
        node.input[:] = [f"{name}_fp32" if name == image.name else name for name in node.input]
    model.graph.node.insert(0, helper.make_node("Cast", [image.name], [f"{image.name}_fp32"],
                                                to=TensorProto.FLOAT))
    onnx.save(model, str(tmp_path / "fp16_input.onnx"))
    with pytest.raises(ModelLoadError, match=r"fp16_input.onnx': the model's input is "
                                             r"tensor\(float16\), but frames are fed as float32"):
        _load(tmp_path / "fp16_input.onnx")


@pytest.mark.parametrize(("graph", "claimed"), [("labels", "probabilities"),
                                                ("probabilities", "labels")])
def test_output_kind_that_contradicts_the_graph_stops_loading(tmp_path, graph, claimed):
    model = build_tiny_model(tmp_path / "m.onnx", output=graph)
    lying = _with_metadata(model, tmp_path / "lying.onnx", output=claimed)
    with pytest.raises(ModelLoadError, match=f"output kind '{claimed}'.*but the model's output"):
        _load(lying)


def test_models_that_agree_with_their_metadata_load(tiny_model, tmp_path):
    assert _load(tiny_model).metadata.num_classes == 11
    assert _load(build_tiny_model(tmp_path / "l.onnx", output="labels")).metadata.output == "labels"
    for shipped in available_shipped_models():
        _load(shipped).close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "metadata entry is unusable: invalid model metadata: not JSON"),
        (json.dumps({"class_names": ["a"], "colors": [[0, 0, 0]], "input_width": 96}),
         "missing key(s) model, dataset, input_height"),
        (json.dumps({"model": "m", "dataset": "d", "class_names": ["a"], "colors": [[0, 0]],
                     "input_height": "sixty-four", "input_width": 96}),
         "input_height must be a whole number, not 'sixty-four'"),
    ],
)
def test_unusable_metadata_names_the_file_the_key_and_the_fix(tiny_model, tmp_path, text,
                                                             expected):
    broken = _with_raw_metadata(tiny_model, tmp_path / "broken.onnx", text)
    with pytest.raises(ModelLoadError) as info:
        _load(broken)
    message = str(info.value)
    assert str(broken) in message and expected in message and "fanet-export" in message
    assert "__init__" not in message


def _tiny_metadata(**changes) -> str:
    fields = {"model": "tiny", "input_height": 64, "input_width": 96, "dynamic_size": True}
    data = json.loads(ModelMetadata.for_label_set(CAMVID, **fields).to_json())
    return json.dumps({**data, **changes})


@pytest.mark.parametrize(("text", "expected"), [
    (_tiny_metadata(size_multiple=0), "size_multiple 0 (a positive whole number)"),
    (_tiny_metadata(extra="note", written_by="a newer fanet-export"),
     "extra must be an object, not 'note'"),
    (_tiny_metadata(dynamic_size="false"), "dynamic_size 'false' (true or false)"),
    (_tiny_metadata(categories={"flat": [0, 99]}),
     "category 'flat' names class ids [99] outside 0..10"),
    (_tiny_metadata(categories={"flat": "01"}), "categories['flat'] must be a list of class ids"),
    (_tiny_metadata(class_names="abcdefghijk"), "class_names must be a list of strings"),
    (_tiny_metadata(normalization={"mean": "012"}), "normalization.mean must be a list of numbers"),
    (_tiny_metadata(input_height=60), "input size 60x96 is not a multiple of size_multiple 32"),
])
def test_metadata_of_the_wrong_type_or_range_stops_loading_naming_the_file(
        tiny_model, tmp_path, text, expected):
    """Each of these was accepted (or crashed with a bare TypeError / ZeroDivisionError)."""
    broken = _with_raw_metadata(tiny_model, tmp_path / "broken.onnx", text)
    with pytest.raises(ModelLoadError) as info:
        _load(broken)
    message = str(info.value)
    assert str(broken) in message and expected in message and "fanet-export" in message


def test_a_folder_given_as_model_path_is_called_a_folder(tmp_path, tiny_model):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "tiny.onnx").write_bytes(tiny_model.read_bytes())
    with pytest.raises(ModelLoadError, match=r"is a folder, not a model file \(it holds tiny.onnx"):
        _load(folder)


def test_node_refuses_a_lying_model_at_start_up(tmp_path):
    three = build_tiny_model(tmp_path / "three.onnx", label_set=THREE_CLASSES)
    lying = _with_metadata(three, tmp_path / "lying.onnx")
    log = tmp_path / "node.log"
    proc = start_node_process({"model_path": str(lying), "backend": "onnxruntime"},
                              log_path=log)
    assert exit_code(proc, 60.0) == 1
    text = log.read_text()
    assert "3 channels" in text and "11 classes" in text and str(lying) in text
    assert "Traceback" not in text
