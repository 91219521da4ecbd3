"""fanet_ros.onnx.sizes: a fixed-size export made size-agnostic gives the fixed export's
outputs at its own size and Keras' outputs at another size, for FANet and FSFFNet."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from fanet_ros.onnx.sizes import make_size_agnostic

NATIVE = (64, 96)
OTHER = (96, 160)
"""At 96x160 the stride-32 level is 3x5 and the pooled levels 2x3 and 1x2: odd sides,
where the fixed graph's x2 resizes and pooling pads are wrong."""


def run(proto: onnx.ModelProto, image: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: image})[0]


def keras_model(name: str, size: tuple[int, int], weights: list):
    from fanet_training.models import build_model

    model = build_model(name, 11, (*size, 3), output="low_res_logits")
    model.set_weights(weights)
    return model


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fanet", "fsffnet"])
def test_size_agnostic_graph_matches_fixed_export_and_keras_at_another_size(name):
    pytest.importorskip("keras")
    from fanet_training.export import convert

    model = keras_model(name, NATIVE, _random_weights(name))
    with tempfile.TemporaryDirectory() as tmp:
        fixed = convert(model, Path(tmp) / "m.onnx")
    agnostic = onnx.ModelProto()
    agnostic.CopyFrom(fixed)
    changes = make_size_agnostic(agnostic)
    assert any("SAME_UPPER" in c for c in changes) and any("sizes" in c for c in changes)
    onnx.checker.check_model(agnostic, full_check=True)
    assert {n.op_type for n in agnostic.graph.node} - {n.op_type for n in fixed.graph.node} <= {
        "Shape", "Slice", "Concat", "Identity"}
    rng = np.random.default_rng(0)
    image = rng.random((1, *NATIVE, 3), dtype=np.float32)
    np.testing.assert_allclose(run(agnostic, image), run(fixed, image), atol=1e-5, rtol=0)
    image = rng.random((1, *OTHER, 3), dtype=np.float32)
    expected = np.asarray(keras_model(name, OTHER, model.get_weights()).predict_on_batch(image))
    np.testing.assert_allclose(run(agnostic, image), expected, atol=1e-3, rtol=0)


def _random_weights(name: str) -> list:
    """The model's initial weights with non-trivial BatchNorm statistics, as after training."""
    from fanet_training.models import build_model

    model = build_model(name, 11, (*NATIVE, 3), output="low_res_logits")
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if layer.__class__.__name__ == "BatchNormalization":
            layer.moving_mean.assign(rng.normal(0, 0.1, layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, layer.moving_variance.shape))
            layer.gamma.assign(rng.uniform(0.5, 2.0, layer.gamma.shape))
    return model.get_weights()


def test_a_resize_it_cannot_take_the_size_for_is_refused():
    """A x2 Resize of a pooled (stride-64) map that feeds a Conv: no tensor to read the
    size from, so the pass refuses instead of leaving a graph wrong at odd sizes."""
    nodes = [
        helper.make_node("Transpose", ["image"], ["x"], perm=[0, 3, 1, 2]),
        helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[3, 3], strides=[64, 64]),
        helper.make_node("Resize", ["p", "", "scales"], ["up"], mode="linear"),
        helper.make_node("Conv", ["up", "w"], ["y"], kernel_shape=[1, 1]),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 64, 64, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, 2, 2]),
         helper.make_tensor("w", TensorProto.FLOAT, [1, 3, 1, 1], [1, 1, 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(ValueError, match="Resize.*not one Add or Concat"):
        make_size_agnostic(model)
