"""Where a segmentation graph ends: the labels tail and the cut to the logits head.

:func:`argmax_labels` is the one builder for every graph that ends in class ids (ArgMax
over the class axis, then Cast to uint8): ``fanet-export --head labels``
(:func:`append_argmax`), the node's arg-max session
(:class:`fanet_ros.label_upsampling.ClassArgmax`), test and benchmark models.
:func:`cut_to_logits` ends an exported full-resolution model at its stride-8 logits.
:func:`softmax_on_last_axis` makes a probabilities head's Softmax read NHWC scores.
"""

from __future__ import annotations

import onnx
from onnx import NodeProto, TensorProto, helper

from fanet_ros.onnx.graph import initializer, prune


def argmax_labels(scores: str, labels: str = "labels", axis: int = -1) -> list[NodeProto]:
    """Nodes turning the tensor ``scores`` into uint8 class ids ``labels`` along ``axis``
    (the first class on ties); the int64 ids in between are ``{labels}_ids``."""
    ids = f"{labels}_ids"
    return [
        helper.make_node("ArgMax", [scores], [ids], axis=axis, keepdims=0),
        helper.make_node("Cast", [ids], [labels], to=TensorProto.UINT8),
    ]


def append_argmax(model: onnx.ModelProto) -> None:
    """Fold the arg-max in: output ``labels`` uint8 ``[N, H, W]`` instead of probabilities."""
    graph = model.graph
    probabilities = graph.output[0]
    dims = probabilities.type.tensor_type.shape.dim
    shape = [d.dim_param or d.dim_value or None for d in dims[:3]]
    scores, axis = _class_scores(graph, probabilities.name)
    graph.node.extend(argmax_labels(scores, "labels", axis))
    graph.output.remove(probabilities)
    graph.output.append(helper.make_tensor_value_info("labels", TensorProto.UINT8, shape))


def _class_scores(graph: onnx.GraphProto, output: str) -> tuple[str, int]:
    """The tensor and axis to arg-max for the ``[N, H, W, C]`` probabilities ``output``.

    Softmax keeps the order of the scores, so a final Softmax (and the NCHW ->
    NHWC Transpose Keras puts after it) is dropped and the arg-max reads the
    scores before it: the labels are the same, and the exponentials and the
    transposed copy of every pixel's scores are saved. Anything else: ``output``, axis 3.
    """
    found = _final_softmax(graph, output)
    if found is None:
        return output, 3
    softmax, transpose, class_axis = found
    for dropped in [softmax] if transpose is None else [softmax, transpose]:
        graph.node.remove(dropped)
    return softmax.input[0], class_axis


def softmax_on_last_axis(model: onnx.ModelProto) -> bool:
    """Turn a final Softmax on a class axis other than the last, then its Transpose to NHWC
    (tf2onnx makes ``Softmax(axis=1)``, ``Transpose(perm=[0, 2, 3, 1])`` of a Keras softmax
    on NHWC), into the Transpose then ``Softmax(axis=-1)``.

    The same probabilities, but ONNX Runtime's CPU Softmax on a non-last axis transposes
    every pixel's scores around a per-pixel loop: 55 of FSFFNet's 93 ms at 384x512 on two
    Xeon cores. Returns whether the graph changed.
    """
    graph = model.graph
    output = graph.output[0].name
    found = _final_softmax(graph, output)
    if found is None or found[2] == 3:  # no Softmax, or already on the last axis
        return False
    softmax, transpose, _ = found
    scores, between = softmax.input[0], softmax.output[0]
    transpose.input[0], transpose.output[0] = scores, between
    softmax.input[0], softmax.output[0] = between, output
    next(a for a in softmax.attribute if a.name == "axis").i = -1  # set: it was not the last
    graph.node.remove(softmax)  # the Transpose now runs first
    graph.node.append(softmax)
    kept = [v for v in graph.value_info if v.name != between]
    del graph.value_info[:]
    graph.value_info.extend(kept)
    return True


def _final_softmax(graph: onnx.GraphProto, output: str
                   ) -> tuple[NodeProto, NodeProto | None, int] | None:
    """The Softmax over the classes that makes the ``[N, H, W, C]`` tensor ``output``: the
    Softmax, the Transpose to NHWC after it (None when there is none) and the axis of the
    Softmax's input that holds the classes. None when the graph ends otherwise."""

    def producer(tensor: str, readers: int) -> NodeProto | None:
        """The node making ``tensor``, if it is the only one and ``readers`` nodes read it."""
        producers = [node for node in graph.node if tensor in node.output]
        consumers = [node for node in graph.node if tensor in node.input]
        return producers[0] if len(producers) == 1 and len(consumers) == readers else None

    node = producer(output, readers=0)
    transpose, class_axis = None, 3
    if node is not None and node.op_type == "Transpose":
        perm = list(next(a.ints for a in node.attribute if a.name == "perm"))
        if perm[:3] != sorted(perm[:3]):  # the other axes must keep their order
            return None
        transpose, class_axis = node, perm[3]
        node = producer(node.input[0], readers=1)
    if node is None or node.op_type != "Softmax":
        return None
    if next((a.i for a in node.attribute if a.name == "axis"), -1) % 4 != class_axis:
        return None
    return node, transpose, class_axis


def logits_are_nchw(model: onnx.ModelProto, resize: onnx.NodeProto) -> bool:
    """Whether the classifier's ``Resize`` works on NCHW scores: from its constant scales
    (1 on the class axis), else from the inferred shape of its input against the model's
    class count (the last axis of its NHWC output); ``ValueError`` when neither tells."""
    graph = model.graph
    scales = initializer(graph, resize.input[2]) if len(resize.input) > 2 else None
    if scales is not None and scales.size == 4:
        if scales[1] == 1 and scales[3] != 1:
            return True
        if scales[3] == 1 and scales[1] != 1:
            return False
    inferred = onnx.shape_inference.infer_shapes(model).graph
    shapes = {v.name: v.type.tensor_type.shape.dim
              for v in (*inferred.value_info, *inferred.input, *inferred.output)}
    dims = [d.dim_value or None for d in shapes.get(resize.input[0], [])]
    output = [d.dim_value or None for d in graph.output[0].type.tensor_type.shape.dim]
    classes = output[-1] if len(output) == 4 else None
    if len(dims) == 4 and classes is not None and (dims[1] == classes) != (dims[3] == classes):
        return dims[1] == classes
    raise ValueError("cannot tell whether the classifier's logits are NCHW or NHWC (its "
                     "Resize has no constant scales and their shape is not known); export "
                     "the logits head from the weights instead (fanet-export RUN_DIR)")


def cut_to_logits(model: onnx.ModelProto) -> None:
    """Make an exported model end at its stride-8 class logits, NHWC ``[N, H/8, W/8, C]``.

    For models exported with a full-resolution head (probabilities or labels): the graph
    is cut at the input of the classifier's ``Resize`` (the one the output depends on),
    transposed to NHWC when the Resize works on NCHW, and the nodes and initializers only
    the old head used are dropped. Raises ``ValueError`` when there is no such Resize.
    """
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    node = producers.get(graph.output[0].name)
    while node is not None and node.op_type != "Resize":
        node = producers.get(node.input[0])
    if node is None:
        raise ValueError("the model has no classifier Resize before its output; is it already "
                         "a logits model?")
    logits = node.input[0]
    if logits_are_nchw(model, node):
        graph.node.append(helper.make_node("Transpose", [logits], ["logits"], perm=[0, 2, 3, 1]))
    else:
        graph.node.append(helper.make_node("Identity", [logits], ["logits"]))
    dims = graph.input[0].type.tensor_type.shape.dim
    batch = dims[0].dim_param or dims[0].dim_value or "batch"
    old = graph.output[0]
    graph.output.remove(old)
    graph.output.append(helper.make_tensor_value_info("logits", TensorProto.FLOAT, None))
    prune(graph)
    inferred = onnx.shape_inference.infer_shapes(model)
    shape = inferred.graph.output[0].type.tensor_type.shape
    if shape.dim:
        graph.output[0].type.tensor_type.shape.CopyFrom(shape)
        graph.output[0].type.tensor_type.shape.dim[0].Clear()
        if isinstance(batch, str):
            graph.output[0].type.tensor_type.shape.dim[0].dim_param = batch
        else:
            graph.output[0].type.tensor_type.shape.dim[0].dim_value = batch
