"""Will TensorRT's ONNX parser (8.6 and 10.x) take an exported model? Operators and data types.

The operator list is taken from the parser's published support matrix,
limited to the operators a convolutional segmentation network can plausibly
contain. The data types are checked on the graph the engine builder parses
(:func:`fanet_ros.tensorrt.onnx_graph.prepare_for_tensorrt`), so a labels
model's final Cast to uint8, which the builder leaves out, is reported as a
change, not as a problem.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx

from fanet_ros.tensorrt.onnx_graph import data_type_problems, prepare_for_tensorrt

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
