"""fanet_ros.onnx.heads.softmax_on_last_axis: the same probabilities from a faster graph."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from fanet_ros.onnx.heads import cut_to_logits, softmax_on_last_axis


def nchw_softmax_model(perm: tuple[int, ...] = (0, 2, 3, 1)) -> onnx.ModelProto:
    """Scores NCHW -> Softmax(axis=1) -> Transpose to NHWC, as tf2onnx exports a Keras head."""
    nodes = [helper.make_node("Relu", ["x"], ["scores"]),
             helper.make_node("Softmax", ["scores"], ["p_nchw"], axis=1),
             helper.make_node("Transpose", ["p_nchw"], ["probabilities"], perm=list(perm))]
    graph = helper.make_graph(
        nodes, "head", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5, 8, 12])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, None, None, None])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_softmax_moves_after_the_transpose_with_the_same_probabilities() -> None:
    model = nchw_softmax_model()
    x = np.random.default_rng(0).normal(0, 3, (1, 5, 8, 12)).astype(np.float32)
    before = run(model, x)
    assert softmax_on_last_axis(model)
    onnx.checker.check_model(model)
    assert [n.op_type for n in model.graph.node] == ["Relu", "Transpose", "Softmax"]
    softmax = model.graph.node[-1]
    assert softmax.output[0] == "probabilities" and softmax.attribute[0].i == -1
    after = run(model, x)
    assert after.shape == (1, 8, 12, 5)
    np.testing.assert_allclose(after, before, atol=1e-6)


def test_other_graph_ends_are_left_alone() -> None:
    model = nchw_softmax_model(perm=(0, 3, 2, 1))  # not NCHW -> NHWC
    assert not softmax_on_last_axis(model)
    assert [n.op_type for n in model.graph.node] == ["Relu", "Softmax", "Transpose"]


def resize_by_sizes_model(nchw: bool) -> onnx.ModelProto:
    """Scores -> Resize(sizes, no scales) x4 -> Softmax -> NHWC probabilities [1, 32, 48, 5],
    as tf2onnx's dynamic export writes the classifier's upsampling."""
    scores_shape, sizes = ([1, 5, 8, 12], [1, 5, 32, 48]) if nchw else ([1, 8, 12, 5],
                                                                       [1, 32, 48, 5])
    nodes = [helper.make_node("Relu", ["x"], ["scores"]),
             helper.make_node("Resize", ["scores", "", "", "sizes"], ["up"], mode="linear")]
    if nchw:
        nodes += [helper.make_node("Softmax", ["up"], ["p_nchw"], axis=1),
                  helper.make_node("Transpose", ["p_nchw"], ["probabilities"], perm=[0, 2, 3, 1])]
    else:
        nodes += [helper.make_node("Softmax", ["up"], ["probabilities"], axis=-1)]
    graph = helper.make_graph(
        nodes, "head", [helper.make_tensor_value_info("x", TensorProto.FLOAT, scores_shape)],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 32, 48, 5])],
        initializer=[helper.make_tensor("sizes", TensorProto.INT64, [4], sizes)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_resize_by_sizes_is_cut_to_nhwc_logits_in_either_layout() -> None:
    for nchw in (True, False):
        model = resize_by_sizes_model(nchw)
        shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
        x = np.random.default_rng(0).normal(0, 3, shape).astype(np.float32)
        cut_to_logits(model)
        logits = run(model, x)
        expected = np.maximum(x, 0).transpose(0, 2, 3, 1) if nchw else np.maximum(x, 0)
        assert logits.shape == (1, 8, 12, 5)
        np.testing.assert_array_equal(logits, expected)


def test_a_layout_nothing_tells_is_refused() -> None:
    model = resize_by_sizes_model(nchw=True)
    del model.graph.output[0].type.tensor_type.shape.dim[:]  # the class count unknown
    with pytest.raises(ValueError, match="cannot tell whether the classifier's logits are NCHW"):
        cut_to_logits(model)
