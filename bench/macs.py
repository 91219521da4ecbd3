"""Multiply-accumulates of a Keras model's convolution and dense layers (the one MAC counter).

Counts Conv2D, DepthwiseConv2D, SeparableConv2D (depthwise + pointwise) and
Dense from each layer's input and output shapes; pooling, normalisation,
activations, additions and resizes are left out, as is usual for GMAC figures.
"""

from __future__ import annotations

import math

import keras


def layer_macs(layer: keras.layers.Layer) -> int:
    """MACs of one call of ``layer`` at the shapes the model was built with."""
    if isinstance(layer, keras.Model):
        return count_macs(layer)
    kinds = (keras.layers.SeparableConv2D, keras.layers.DepthwiseConv2D, keras.layers.Conv2D,
             keras.layers.Dense)
    if not isinstance(layer, kinds):
        return 0
    in_channels = int(layer.input.shape[-1])
    out_shape = layer.output.shape
    positions = math.prod(int(d) for d in out_shape[1:-1])
    if isinstance(layer, keras.layers.Dense):
        return positions * in_channels * layer.units
    window = math.prod(layer.kernel_size)
    if isinstance(layer, keras.layers.SeparableConv2D):
        depthwise = in_channels * layer.depth_multiplier
        return positions * (window * depthwise + depthwise * layer.filters)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return positions * window * in_channels * layer.depth_multiplier
    return positions * window * (in_channels // layer.groups) * layer.filters


def count_macs(model: keras.Model) -> int:
    """Total MACs for one image at the model's fixed input size."""
    return sum(layer_macs(layer) for layer in model.layers)


def onnx_macs(path: str) -> int:
    """MACs of the Conv, Gemm and MatMul nodes of an ONNX model with a fixed input size.

    For models without Keras source (peers exported from PyTorch): output shapes come
    from ONNX shape inference; each Conv output element costs ``C_in / groups x kernel``.
    """
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load(path))
    graph = model.graph
    shapes = {v.name: [d.dim_value if d.HasField("dim_value") else 1  # symbolic batch: 1
                       for d in v.type.tensor_type.shape.dim]
              for v in [*graph.value_info, *graph.output, *graph.input]}
    shapes.update({t.name: list(t.dims) for t in graph.initializer})
    total = 0
    for node in graph.node:
        out = shapes.get(node.output[0])
        if not out or not all(out):
            continue
        if node.op_type == "Conv":
            weight = shapes[node.input[1]]
            total += math.prod(out) * math.prod(weight[1:])
        elif node.op_type in ("Gemm", "MatMul"):
            total += math.prod(out) * shapes[node.input[0]][-1]
    return total
