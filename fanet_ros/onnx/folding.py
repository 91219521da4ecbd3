"""Fold the per-channel scale and shift after a convolution into its weights and bias."""

from __future__ import annotations

import numpy as np
import onnx

from fanet_ros.onnx.graph import prune


def fold_conv_affine(model: onnx.ModelProto) -> int:
    """Fold per-channel scales and shifts that follow a Conv into its weights and bias.

    tf2onnx writes each BatchNormalization after a convolution (the depthwise
    and pointwise halves of the separable convolutions included) as ``Mul`` +
    ``Add`` with constant per-channel operands; a ``BatchNormalization`` node is
    folded too. ``y = (conv(x, W) + b) * s + a`` becomes ``conv(x, W * s) + (b * s + a)``.
    A Conv is folded only where its output feeds nothing but that chain. Returns
    how many Mul / Add / BatchNormalization nodes were removed.
    """
    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}
    outputs = {o.name for o in graph.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    removed: list[onnx.NodeProto] = []
    for conv in [n for n in graph.node if n.op_type == "Conv"]:
        has_bias = len(conv.input) > 2 and bool(conv.input[2])
        if any(name not in initializers for name in conv.input[1:3] if name):
            continue
        weights = onnx.numpy_helper.to_array(initializers[conv.input[1]])
        if weights.dtype != np.float32:
            continue
        bias = (onnx.numpy_helper.to_array(initializers[conv.input[2]]) if has_bias
                else np.zeros(weights.shape[0], np.float32))
        chain = []
        tensor = conv.output[0]
        while tensor not in outputs and len(consumers.get(tensor, [])) == 1:
            step = _channel_affine(consumers[tensor][0], tensor, initializers, weights.shape[0])
            if step is None:
                break
            scale, shift = step
            weights = weights * scale[:, None, None, None]
            bias = bias * scale + shift
            chain.append(consumers[tensor][0])
            tensor = chain[-1].output[0]
        if not chain:
            continue
        stem = conv.name or conv.output[0]
        names = [f"{stem}/folded_weights", f"{stem}/folded_bias"]
        graph.initializer.extend([onnx.numpy_helper.from_array(weights, names[0]),
                                  onnx.numpy_helper.from_array(bias, names[1])])
        del conv.input[1:]
        conv.input.extend(names)
        conv.output[0] = tensor
        removed += chain
    for node in removed:
        graph.node.remove(node)
    if removed:
        prune(graph)
    return len(removed)


def _channel_affine(node: onnx.NodeProto, tensor: str, initializers: dict,
                    channels: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``(scale, shift)`` per output channel of an NCHW ``Mul`` / ``Add`` with a constant, or
    of a ``BatchNormalization``, applied to ``tensor``; None for anything else."""

    batch_norm = node.op_type == "BatchNormalization"

    def per_channel(name: str) -> np.ndarray | None:
        if name not in initializers:
            return None
        value = onnx.numpy_helper.to_array(initializers[name])
        if value.dtype != np.float32:
            return None
        if value.size == 1 and value.ndim <= 4:
            return np.full(channels, value.reshape(()), np.float32)
        # [C] for BatchNormalization; [C, 1, 1] or [1, C, 1, 1] broadcast over NCHW
        fits = value.size == channels and (
            value.ndim == 1 if batch_norm else 3 <= value.ndim <= 4 and value.shape[-3] == channels)
        return value.reshape(channels) if fits else None

    ones, zeros = np.ones(channels, np.float32), np.zeros(channels, np.float32)
    if node.op_type in ("Mul", "Add") and len(node.input) == 2 and tensor in node.input:
        other = per_channel(node.input[1 - list(node.input).index(tensor)])
        if other is None:
            return None
        return (other, zeros) if node.op_type == "Mul" else (ones, other)
    if node.op_type == "BatchNormalization" and node.input[0] == tensor and len(node.output) == 1:
        params = [per_channel(name) for name in node.input[1:5]]
        if any(p is None for p in params):
            return None
        gamma, beta, mean, var = params
        epsilon = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
        scale = gamma / np.sqrt(var + epsilon)
        return scale, beta - mean * scale
    return None
