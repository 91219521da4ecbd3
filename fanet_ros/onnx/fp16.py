"""An ONNX graph computing in float16 with float32 inputs and outputs (for TensorRT 11).

TensorRT 11 builds strongly typed networks only: the builder flags that let
TensorRT pick fp16 kernels for an fp32 graph are gone, and each tensor's type
comes from the ONNX graph. So for ``precision: fp16`` the graph itself is
converted: float32 weights and constants become float16, a Cast to float16
follows each float32 input and a Cast back to float32 precedes each float32
output. The engine's inputs and outputs stay float32, as the backend expects.

ONNX requires some inputs to stay float32 whatever the data's type (Resize's
``roi`` and ``scales``); those are left alone. Plain ``onnx``, no TensorRT.
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper, numpy_helper

FLOAT32_INPUTS = {"Resize": (1, 2), "Upsample": (1,)}
"""Operator -> input positions ONNX types as float32 regardless of the data (roi, scales)."""


def _float32_only(graph: onnx.GraphProto) -> set[str]:
    names = set()
    for node in graph.node:
        for position in FLOAT32_INPUTS.get(node.op_type, ()):
            if position < len(node.input) and node.input[position]:
                names.add(node.input[position])
    return names


def _to_fp16(tensor: onnx.TensorProto) -> onnx.TensorProto:
    return numpy_helper.from_array(numpy_helper.to_array(tensor).astype("float16"), tensor.name)


def convert_to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` whose float32 arithmetic runs in float16 (inputs, outputs float32)."""
    converted = onnx.ModelProto()
    converted.CopyFrom(model)
    graph = converted.graph
    keep = _float32_only(graph)
    for index, init in enumerate(graph.initializer):
        if init.data_type == TensorProto.FLOAT and init.name not in keep:
            graph.initializer[index].CopyFrom(_to_fp16(init))
    for node in graph.node:
        if node.output and node.output[0] in keep:
            continue
        for attribute in node.attribute:
            if attribute.name == "to" and node.op_type == "Cast" and attribute.i == (
                TensorProto.FLOAT
            ):
                attribute.i = TensorProto.FLOAT16
            elif attribute.type == onnx.AttributeProto.TENSOR and (
                attribute.t.data_type == TensorProto.FLOAT
            ):
                attribute.t.CopyFrom(_to_fp16(attribute.t))
    _cast_inputs(graph)
    _cast_outputs(graph)
    del graph.value_info[:]  # the recorded types are float32 ones
    return converted


def _cast_inputs(graph: onnx.GraphProto) -> None:
    casts = []
    for info in graph.input:
        if info.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        half = f"{info.name}_fp16"
        for node in graph.node:
            for position, name in enumerate(node.input):
                if name == info.name and position not in FLOAT32_INPUTS.get(node.op_type, ()):
                    node.input[position] = half
        casts.append(helper.make_node("Cast", [info.name], [half], to=TensorProto.FLOAT16,
                                      name=f"{info.name}_to_fp16"))
    for offset, cast in enumerate(casts):
        graph.node.insert(offset, cast)


def _cast_outputs(graph: onnx.GraphProto) -> None:
    for info in graph.output:
        if info.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        half = f"{info.name}_fp16"
        for node in graph.node:
            for position, name in enumerate(node.output):
                if name == info.name:
                    node.output[position] = half
            for position, name in enumerate(node.input):
                if name == info.name:
                    node.input[position] = half
        graph.node.append(helper.make_node("Cast", [half], [info.name], to=TensorProto.FLOAT,
                                           name=f"{info.name}_to_fp32"))
