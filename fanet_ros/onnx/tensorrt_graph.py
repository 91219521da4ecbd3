"""The ONNX graph TensorRT is given: what the engine builder changes, and whether TensorRT's
ONNX parser (8.6 and 10.x) takes it (operators and data types).

Plain ``onnx``, no TensorRT, so ``fanet-export`` and CPU tests use it too. The operator
list (:data:`TENSORRT_ONNX_OPS`) is taken from the parser's published support matrix,
limited to the operators a convolutional segmentation network can plausibly contain;
:func:`check_for_tensorrt` checks the graph :func:`prepare_for_tensorrt` makes, so a labels
model's final Cast to uint8, which the builder leaves out, is a change, not a problem.

A labels model (``fanet-export --labels``) ends in ``ArgMax -> Cast(to=UINT8)``.
TensorRT 8.6's ONNX parser cannot cast an integer tensor to UINT8 (ArgMax
gives INT64, which 8.6 holds as INT32); only 10.x casts it through INT64.
:func:`prepare_for_tensorrt` therefore replaces such a final Cast with an
Identity: the engine outputs the integer class ids (INT32 on 8.6, INT64 on
10.x) and the host converts them to uint8, as it does any labels output.
Models that end in float logits or probabilities pass unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx
from onnx import TensorProto, helper

FLOAT_TYPES = frozenset({TensorProto.FLOAT, TensorProto.FLOAT16})
NO_TENSORRT_TYPE = frozenset({
    TensorProto.DOUBLE, TensorProto.STRING, TensorProto.COMPLEX64, TensorProto.COMPLEX128,
    TensorProto.INT16, TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64,
})
"""ONNX element types TensorRT 8.6 and 10.x have no data type for (initializers aside)."""


def type_name(elem_type: int) -> str:
    return TensorProto.DataType.Name(elem_type)


def tensor_types(model: onnx.ModelProto) -> dict[str, int]:
    """The element type of every main-graph tensor ONNX shape inference can type."""
    try:
        graph = onnx.shape_inference.infer_shapes(model).graph
    except Exception:  # an operator shape inference does not know: use what is declared
        graph = model.graph
    types = {init.name: init.data_type for init in graph.initializer}
    for info in (*graph.input, *graph.value_info, *graph.output):
        if info.type.tensor_type.elem_type:
            types[info.name] = info.type.tensor_type.elem_type
    return types


def _is_integer_to_uint8_cast(node: onnx.NodeProto, types: dict[str, int]) -> bool:
    if node.op_type != "Cast":
        return False
    to = next((a.i for a in node.attribute if a.name == "to"), None)
    source = types.get(node.input[0])
    return to == TensorProto.UINT8 and source is not None and source not in FLOAT_TYPES


def prepare_for_tensorrt(model: onnx.ModelProto) -> tuple[onnx.ModelProto, list[str]]:
    """A copy of ``model`` every supported TensorRT parses, and what was changed (may be none)."""
    prepared = onnx.ModelProto()
    prepared.CopyFrom(model)
    graph = prepared.graph
    types = tensor_types(prepared)
    outputs = {output.name: output for output in graph.output}
    changes = []
    for index, node in enumerate(graph.node):
        if node.output[0] not in outputs or not _is_integer_to_uint8_cast(node, types):
            continue
        source_type = types[node.input[0]]
        graph.node[index].CopyFrom(
            helper.make_node("Identity", [node.input[0]], [node.output[0]], name=node.name)
        )
        outputs[node.output[0]].type.tensor_type.elem_type = source_type
        changes.append(
            f"output '{node.output[0]}': the final Cast({type_name(source_type)} -> UINT8) is "
            "left out (TensorRT 8.6 cannot parse it); the engine outputs the integer class ids "
            "(INT32 on TensorRT 8.6, INT64 on 10.x), converted to uint8 on the host"
        )
    return prepared, changes


def data_type_problems(model: onnx.ModelProto) -> list[str]:
    """Nodes whose data types TensorRT's ONNX parser (8.6 or 10.x) rejects, one line each."""
    types = tensor_types(model)
    problems = []
    for node in model.graph.node:
        where = f"node '{node.name or node.output[0]}' ({node.op_type})"
        if _is_integer_to_uint8_cast(node, types):
            problems.append(
                f"{where} casts {type_name(types[node.input[0]])} to UINT8: TensorRT 8.6 casts "
                "to UINT8 from FP32/FP16 only"
            )
        for tensor in node.output:
            if types.get(tensor) in NO_TENSORRT_TYPE:
                problems.append(
                    f"{where} outputs '{tensor}' as {type_name(types[tensor])}, a type TensorRT "
                    "has no data type for"
                )
    return problems


TENSORRT_ONNX_OPS = frozenset({
    "Abs", "Add", "ArgMax", "ArgMin", "AveragePool", "BatchNormalization", "Cast", "Ceil",
    "Clip", "Concat", "Constant", "ConstantOfShape", "Conv", "ConvTranspose", "DepthToSpace",
    "Div", "Dropout", "Elu", "Equal", "Erf", "Exp", "Expand", "Flatten", "Floor", "Gather",
    "Gemm", "GlobalAveragePool", "GlobalMaxPool", "Greater", "HardSigmoid", "HardSwish",
    "Identity", "LeakyRelu", "Less", "Log", "LogSoftmax", "MatMul", "Max", "MaxPool", "Mean",
    "Min", "Mul", "Neg", "Not", "Pad", "Pow", "PRelu", "Range", "Reciprocal", "ReduceMax",
    "ReduceMean", "ReduceMin", "ReduceSum", "Relu", "Reshape", "Resize", "Shape", "Sigmoid",
    "Sign", "Slice", "Softmax", "SpaceToDepth", "Split", "Sqrt", "Squeeze", "Sub", "Sum",
    "Tanh", "Tile", "TopK", "Transpose", "Unsqueeze", "Upsample", "Where",
})


def unsupported_ops(op_types: set[str]) -> list[str]:
    """The op types TensorRT's ONNX parser would reject, sorted."""
    return sorted(op_types - TENSORRT_ONNX_OPS)


@dataclass(frozen=True)
class TensorRTCheck:
    """What the engine builder changes in a model, and what TensorRT would still reject."""

    changes: list[str]
    problems: list[str]


def check_for_tensorrt(model: onnx.ModelProto) -> TensorRTCheck:
    """Operators and data types of the graph TensorRT would be given."""
    prepared, changes = prepare_for_tensorrt(model)
    bad_ops = unsupported_ops({node.op_type for node in prepared.graph.node})
    problems = [f"operator {op} is not supported" for op in bad_ops]
    return TensorRTCheck(changes, problems + data_type_problems(prepared))
