"""ONNX operators that TensorRT's ONNX parser (onnx-tensorrt, TensorRT 8.6+) imports.

Taken from the parser's published operator support matrix, limited to the
operators a convolutional segmentation network can plausibly contain.
"""

from __future__ import annotations

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
