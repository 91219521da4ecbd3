"""The labels tail of an ONNX graph: ArgMax over the class axis, then Cast to uint8.

One builder for every graph that ends in class ids: ``fanet-export --head labels``, the
node's arg-max session (:class:`fanet_ros.label_upsampling.ClassArgmax`), test and
benchmark models.
"""

from __future__ import annotations

from onnx import NodeProto, TensorProto, helper


def argmax_labels(scores: str, labels: str = "labels", axis: int = -1) -> list[NodeProto]:
    """Nodes turning the tensor ``scores`` into uint8 class ids ``labels`` along ``axis``
    (the first class on ties); the int64 ids in between are ``{labels}_ids``."""
    ids = f"{labels}_ids"
    return [
        helper.make_node("ArgMax", [scores], [ids], axis=axis, keepdims=0),
        helper.make_node("Cast", [ids], [labels], to=TensorProto.UINT8),
    ]
