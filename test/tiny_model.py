"""A tiny ONNX segmentation model with fanet_ros metadata, built with onnx.helper.

Node, runtime and evaluation tests use it so they need neither TensorFlow nor
a trained model: a 3x3 convolution to N classes and a softmax, NHWC in and
out, sides dynamic (multiples of 32) or fixed. ``output="logits"`` averages
8x8 blocks first and ends at the convolution: ``[1, H/8, W/8, N]`` logits, as
the shipped models' stride-8 head.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from fanet_ros.labels import CAMVID, LabelSet
from fanet_ros.model_metadata import ModelMetadata, attach_metadata
from fanet_ros.onnx.heads import argmax_labels


def build_tiny_model(
    path: Path,
    height: int = 64,
    width: int = 96,
    label_set: LabelSet = CAMVID,
    dynamic: bool = True,
    output: str = "probabilities",
    seed: int = 0,
) -> Path:
    """Write the model to ``path`` and return it."""
    rng = np.random.default_rng(seed)
    n = label_set.num_classes
    weight = rng.normal(0, 1.0, size=(n, 3, 3, 3)).astype(np.float32)
    bias = rng.normal(0, 0.1, size=(n,)).astype(np.float32)
    h = "height" if dynamic else height
    w = "width" if dynamic else width
    nodes = [
        helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["nchw", "w", "b"], ["logits"], pads=[1, 1, 1, 1]),
        helper.make_node("Softmax", ["logits"], ["probs_nchw"], axis=1),
        helper.make_node("Transpose", ["probs_nchw"], ["probs"], perm=[0, 2, 3, 1]),
    ]
    if output == "logits":
        nodes = [
            helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]),
            helper.make_node("AveragePool", ["nchw"], ["pooled"], kernel_shape=[8, 8],
                             strides=[8, 8]),
            helper.make_node("Conv", ["pooled", "w", "b"], ["logits_nchw"], pads=[1, 1, 1, 1]),
            helper.make_node("Transpose", ["logits_nchw"], ["logits"], perm=[0, 2, 3, 1]),
        ]
        weight *= 8.0  # sharper scores, so classes form regions as a trained model's do
    out_name, out_type, out_shape = "probs", TensorProto.FLOAT, [1, h, w, n]
    if output == "logits":
        low = ["height_8", "width_8"] if dynamic else [height // 8, width // 8]
        out_name, out_shape = "logits", [1, *low, n]
    if output == "labels":
        nodes += argmax_labels("probs", "labels", axis=3)
        out_name, out_type, out_shape = "labels", TensorProto.UINT8, [1, h, w]
    graph = helper.make_graph(
        nodes,
        "tiny_segmenter",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, h, w, 3])],
        [helper.make_tensor_value_info(out_name, out_type, out_shape)],
        initializer=[numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    attach_metadata(
        model,
        ModelMetadata.for_label_set(
            label_set,
            model="tiny",
            input_height=height,
            input_width=width,
            output=output,  # type: ignore[arg-type]
            dynamic_size=dynamic,
        ),
    )
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
