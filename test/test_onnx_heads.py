"""fanet_ros.onnx.heads.softmax_on_last_axis: the same probabilities from a faster graph."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from fanet_ros.onnx.heads import softmax_on_last_axis


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
