"""Keras weights back from an ONNX file written by ``fanet-export`` (tf2onnx node names).

For a model whose ``.weights.h5`` is gone: its exported ``.onnx`` still holds every
weight. tf2onnx names each node after the Keras layer it comes from
(``<model>_1/<layer>_1/...``); a convolution keeps its kernel and bias, and a
BatchNormalization becomes ``x * scale + shift``, loaded back as ``gamma = scale``,
``beta = shift``, ``moving_mean = 0``, ``moving_variance = 1 - epsilon`` (the same
function). Used by ``fanet-export old.onnx`` to re-export a fixed-size model with
dynamic height and width.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper


def _layer_of(node_name: str, layer_names: set[str]) -> str | None:
    """The Keras layer a tf2onnx node belongs to: the second path part, ``_1`` suffix off."""
    parts = node_name.split("/")
    if len(parts) < 3:
        return None
    name = parts[1]
    for candidate in (name, name.removesuffix("_1")):
        if candidate in layer_names:
            return candidate
    return None


def _producer_layer(model, layer_name: str | None) -> str | None:
    """The Keras layer whose output ``layer_name`` (a BatchNormalization) reads."""
    if layer_name is None:
        return None
    layer = model.get_layer(layer_name)
    if type(layer).__name__ != "BatchNormalization":
        return None
    return layer.input._keras_history[0].name


def _constant(value_of: dict[str, np.ndarray], node: onnx.NodeProto) -> np.ndarray:
    constants = [value_of[name] for name in node.input if name in value_of]
    if len(constants) != 1:
        raise ValueError(f"node '{node.name}' has {len(constants)} constant inputs, expected 1")
    return constants[0].reshape(-1)


def load_weights_from_onnx(model, proto: onnx.ModelProto) -> None:
    """Set every weight of the Keras ``model`` from ``proto``; ``ValueError`` names the first
    layer the graph has no weights for."""
    value_of = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    layers = {layer.name: layer for layer in model.layers if layer.weights}
    convs: dict[str, dict[str, np.ndarray]] = {}
    affine: dict[str, dict[str, np.ndarray]] = {}
    readers: dict[str, str] = {}
    for node in proto.graph.node:
        for tensor in node.input:
            readers.setdefault(tensor, node.name)
    for node in proto.graph.node:
        name = _layer_of(node.name, set(layers))
        if name is None and node.op_type == "Conv":  # renamed by tf2onnx: ask who reads it
            name = _producer_layer(model, _layer_of(readers.get(node.output[0], ""), set(layers)))
        if name is None:
            continue
        kind = type(layers[name]).__name__
        if node.op_type == "Conv":
            weights = value_of[node.input[1]]
            bias = value_of[node.input[2]] if len(node.input) > 2 else None
            part = "depthwise" if weights.shape[1] == 1 and kind != "Conv2D" else "kernel"
            convs.setdefault(name, {})[part] = weights
            if bias is not None:
                convs[name]["bias"] = bias
        elif kind == "BatchNormalization" and node.op_type in ("Mul", "Add"):
            affine.setdefault(name, {})[node.op_type] = _constant(value_of, node)
    for name, layer in layers.items():
        kind = type(layer).__name__
        if kind == "BatchNormalization":
            found = affine.get(name, {})
            if set(found) != {"Mul", "Add"}:
                raise ValueError(f"no scale and shift for layer '{name}' in the ONNX graph")
            scale, shift = found["Mul"], found["Add"]
            layer.set_weights([scale, shift, np.zeros_like(scale),
                               np.full_like(scale, 1.0 - layer.epsilon)])
            continue
        found = convs.get(name, {})
        bias = found.get("bias")
        if kind == "Conv2D" and "kernel" in found:
            weights = [found["kernel"].transpose(2, 3, 1, 0)]  # OIHW -> HWIO
        elif kind == "DepthwiseConv2D" and "depthwise" in found:
            weights = [found["depthwise"].transpose(2, 3, 0, 1)]  # C1HW -> HWC1
        elif kind == "SeparableConv2D" and {"depthwise", "kernel"} <= set(found):
            weights = [found["depthwise"].transpose(2, 3, 0, 1),
                       found["kernel"].transpose(2, 3, 1, 0)]
        else:
            raise ValueError(f"no weights for {kind} layer '{name}' in the ONNX graph")
        if len(layer.weights) > len(weights):
            weights.append(bias if bias is not None else np.zeros(layer.weights[-1].shape,
                                                                  np.float32))
        layer.set_weights(weights)
