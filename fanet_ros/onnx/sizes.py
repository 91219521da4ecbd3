"""Make a fixed-size ONNX export run at any input size whose sides are multiples of 32.

tf2onnx maps a model traced at a fixed size to clean ops (dilated ``Conv``, ``Resize``,
``MaxPool``), but two kinds of node then hold that size: a ``Resize`` with constant
``scales`` (x2 is wrong where a pyramid level has an odd side: at 288 rows P6 has 5 and
P7 3 rows, and 2 x 3 != 5) and a strided ``MaxPool`` / ``Conv`` with explicit ``pads``
(TensorFlow's SAME padding of that size's sides). :func:`make_size_agnostic` rewrites
just those nodes, so the graph keeps its ops and speed and runs at any allowed size:

* A tensor is *exact* when, at the export size, each of its sides is the image's side
  divided by a stride that divides ``multiple``: it then has ``side / stride`` positions
  at every allowed size. A Resize from an exact tensor to an exact tensor, and a strided
  node whose input and output are exact, are right at every allowed size and stay.
* Any other Resize must feed one ``Add`` or ``Concat`` (the Keras ``ResizeLike`` resizes
  to the tensor it is then added to or concatenated with). Its ``scales`` become
  ``sizes`` read at run time from that tensor: ``Shape(ref)`` for an Add, and
  ``Concat(Shape(x)[0:2], Shape(ref)[2:4])`` for a Concat.
* Any other strided node must have TensorFlow's SAME pads at the export size; they
  become ``auto_pad=SAME_UPPER``, which is SAME at every size.
* A Reshape that keeps its input's shape (tf2onnx's layout step of a 1x1 map) becomes
  an Identity.
* The graph input's height and width (and the output's) become symbolic; the stale
  intermediate shapes (``value_info``) are dropped.

Anything else that could hold the size raises :class:`ValueError`. The model's input is
NHWC ``[N, H, W, 3]`` and the ops inside work on NCHW, as ``fanet-export`` writes them.
Plain ``onnx``: ``fanet-export`` uses it, and so can the node.
"""

from __future__ import annotations

import math

import onnx
from onnx import TensorProto, helper

SIZE_MULTIPLE = 32
"""Sides of the allowed input sizes are multiples of this (the models' total stride)."""

SIZE_FREE_OPS = frozenset({
    "Add", "ArgMax", "BatchNormalization", "Cast", "Clip", "Concat", "Div", "Dropout", "Exp",
    "GlobalAveragePool", "GlobalMaxPool", "HardSigmoid", "HardSwish", "Identity", "LeakyRelu",
    "Max", "Min", "Mul", "Neg", "PRelu", "Relu", "Sigmoid", "Softmax", "Sqrt", "Sub", "Tanh",
    "Transpose",
})
"""Ops whose result does not depend on a size baked into the graph."""

STRIDED_OPS = frozenset({"Conv", "MaxPool", "AveragePool"})
HEIGHT, WIDTH = "height", "width"
"""Names of the symbolic input sides."""


def make_size_agnostic(model: onnx.ModelProto, multiple: int = SIZE_MULTIPLE) -> list[str]:
    """Rewrite ``model`` in place to run at any ``multiple``-of-32 size; returns one line per
    change. Raises :class:`ValueError` when a node's size dependence cannot be removed."""
    graph = model.graph
    shapes = _native_shapes(model)
    image = _input_side_values(graph)
    changes: list[str] = []
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def exact(tensor: str) -> bool:
        return _exact(shapes[tensor][2:4], image, multiple)

    moved: dict[int, list[onnx.NodeProto]] = {}  # id(reader) -> size nodes + Resize
    for node in graph.node:
        if node.op_type == "Resize":
            if exact(node.input[0]) and exact(node.output[0]):
                continue
            readers = consumers.get(node.output[0], [])
            nodes, reference = _sizes_from_reference(node, readers, shapes)
            moved[id(readers[0])] = [*nodes, node]
            changes.append(f"Resize {node.name}: scales -> sizes of {reference}")
        elif node.op_type in STRIDED_OPS:
            if _has_pads(node) and not (exact(node.input[0]) and exact(node.output[0])):
                _same_upper(node, shapes[node.input[0]][2:4])
                changes.append(f"{node.op_type} {node.name}: pads -> SAME_UPPER")
        elif node.op_type == "Reshape":
            _reshape_to_identity(node, shapes)
            changes.append(f"Reshape {node.name}: -> Identity")
        elif node.op_type not in SIZE_FREE_OPS:
            raise ValueError(f"cannot tell whether {node.op_type} node '{node.name}' holds the "
                             "export size")
    # A rewritten Resize moves, after its size nodes, to just before its one reader: the
    # reference tensor exists there.
    resizes = {id(nodes[-1]) for nodes in moved.values()}
    ordered = []
    for node in graph.node:
        if id(node) not in resizes:
            ordered += [*moved.get(id(node), []), node]
    del graph.node[:]
    graph.node.extend(ordered)
    _add_slice_constants(graph)
    _drop_unread_initializers(graph)
    _symbolic_sides(graph, image)
    del graph.value_info[:]
    return changes


def _native_shapes(model: onnx.ModelProto) -> dict[str, list[int | str]]:
    """Every tensor's shape at the export size (dims as ints, symbolic ones as names)."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    shapes = {}
    graph = inferred.graph
    for info in [*graph.input, *graph.value_info, *graph.output]:
        dims = info.type.tensor_type.shape.dim
        shapes[info.name] = [d.dim_value if d.HasField("dim_value") else d.dim_param
                             for d in dims]
    for tensor in graph.initializer:
        shapes[tensor.name] = list(tensor.dims)
    return shapes


def _input_side_values(graph: onnx.GraphProto) -> tuple[int, int]:
    """Height and width of the NHWC graph input; ValueError unless fixed."""
    dims = graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4 or not all(d.HasField("dim_value") for d in dims[1:3]):
        raise ValueError("the graph input is not NHWC with a fixed height and width")
    return dims[1].dim_value, dims[2].dim_value


def _exact(sides: list, image: tuple[int, int], multiple: int) -> bool:
    """True when each side is ``image side / stride`` with the stride dividing ``multiple``."""
    if len(sides) != 2 or not all(isinstance(s, int) and s > 0 for s in sides):
        return False
    return all(full % side == 0 and multiple % (full // side) == 0
               for full, side in zip(image, sides))


def _sizes_from_reference(resize: onnx.NodeProto, readers: list[onnx.NodeProto],
                          shapes: dict) -> tuple[list[onnx.NodeProto], str]:
    """Nodes computing the Resize's ``sizes`` from the tensor its one Add or Concat reader
    combines it with (returned too); the Resize is switched from ``scales`` to those sizes."""
    out = resize.output[0]
    if len(readers) != 1 or readers[0].op_type not in ("Add", "Concat"):
        kinds = ", ".join(r.op_type for r in readers) or "nothing"
        raise ValueError(f"Resize '{resize.name}' changes size with the input (its output "
                         f"feeds {kinds}, not one Add or Concat to take the size from)")
    reader = readers[0]
    references = [name for name in reader.input if name != out]
    if not references or shapes[references[0]][2:4] != shapes[out][2:4]:
        raise ValueError(f"Resize '{resize.name}': {reader.op_type} '{reader.name}' has no "
                         "input of the resized shape")
    reference = references[0]
    stem = f"{resize.name or out}/size_agnostic"
    sizes = f"{stem}/sizes"
    if reader.op_type == "Add" and shapes[reference][1] == shapes[out][1]:
        nodes = [helper.make_node("Shape", [reference], [sizes], name=f"{stem}/shape")]
    else:
        nodes = [
            helper.make_node("Shape", [resize.input[0]], [f"{stem}/x_shape"],
                             name=f"{stem}/x_shape"),
            helper.make_node("Shape", [reference], [f"{stem}/ref_shape"],
                             name=f"{stem}/ref_shape"),
            helper.make_node("Slice", [f"{stem}/x_shape", _ZERO, _TWO], [f"{stem}/nc"],
                             name=f"{stem}/nc"),
            helper.make_node("Slice", [f"{stem}/ref_shape", _TWO, _FOUR], [f"{stem}/hw"],
                             name=f"{stem}/hw"),
            helper.make_node("Concat", [f"{stem}/nc", f"{stem}/hw"], [sizes], axis=0,
                             name=f"{stem}/sizes"),
        ]
    del resize.input[2:]
    resize.input.extend(["", sizes])
    return nodes, reference


_ZERO, _TWO, _FOUR = "size_agnostic/0", "size_agnostic/2", "size_agnostic/4"


def _add_slice_constants(graph: onnx.GraphProto) -> None:
    """The int64 start/end constants the added Slice nodes read, once, where there are any."""
    if any(_ZERO in node.input for node in graph.node):
        graph.initializer.extend(
            helper.make_tensor(name, TensorProto.INT64, [1], [value])
            for name, value in ((_ZERO, 0), (_TWO, 2), (_FOUR, 4)))


def _drop_unread_initializers(graph: onnx.GraphProto) -> None:
    """Remove the initializers no node reads any more (the replaced ``scales``)."""
    read = {name for node in graph.node for name in node.input}
    kept = [t for t in graph.initializer if t.name in read]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def _attribute(node: onnx.NodeProto, name: str, default=None):
    for attribute in node.attribute:
        if attribute.name == name:
            return helper.get_attribute_value(attribute)
    return default


def _has_pads(node: onnx.NodeProto) -> bool:
    strides = _attribute(node, "strides", [1, 1])
    return any(s > 1 for s in strides) and any(_attribute(node, "pads", []))


def _same_upper(node: onnx.NodeProto, sides: list[int]) -> None:
    """Replace the node's explicit pads by ``auto_pad=SAME_UPPER``; ValueError unless they
    are SAME padding at the export size."""
    strides = _attribute(node, "strides", [1, 1])
    dilations = _attribute(node, "dilations", [1, 1])
    kernel = _attribute(node, "kernel_shape")
    pads = list(_attribute(node, "pads"))
    begins, ends = [], []
    for side, stride, dilation, size in zip(sides, strides, dilations, kernel):
        total = max((math.ceil(side / stride) - 1) * stride + (size - 1) * dilation + 1 - side,
                    0)
        begins.append(total // 2)
        ends.append(total - total // 2)
    if pads != begins + ends:
        raise ValueError(f"{node.op_type} '{node.name}' pads {pads} are not SAME padding at "
                         f"{sides[0]}x{sides[1]} ({begins + ends})")
    kept = [a for a in node.attribute if a.name not in ("pads", "auto_pad")]
    del node.attribute[:]
    node.attribute.extend([*kept, helper.make_attribute("auto_pad", "SAME_UPPER")])


def _reshape_to_identity(node: onnx.NodeProto, shapes: dict) -> None:
    """A Reshape is size-free only where it changes nothing (batch aside): tf2onnx
    writes layout steps of 1x1 maps (a pooled branch, a 1x1 pyramid level) as such
    Reshapes, which would fold a larger map into the batch at another size. It becomes an
    Identity; ValueError for any other Reshape."""
    before, after = shapes.get(node.input[0]), shapes.get(node.output[0])
    if not before or not after or len(before) != len(after) or before[1:] != after[1:]:
        raise ValueError(f"Reshape '{node.name}' may hold the export size")
    del node.input[1:]
    del node.attribute[:]
    node.op_type = "Identity"


def _symbolic_sides(graph: onnx.GraphProto, image: tuple[int, int]) -> None:
    """Input height/width -> ``height``/``width``; each output side ``image side / s`` ->
    ``height/s`` (``height`` where s is 1)."""
    for info, is_input in [(graph.input[0], True), *((o, False) for o in graph.output)]:
        dims = info.type.tensor_type.shape.dim
        for axis, (name, full) in enumerate(zip((HEIGHT, WIDTH), image), start=1):
            if axis >= len(dims) or not dims[axis].HasField("dim_value"):
                continue
            side = dims[axis].dim_value
            if not is_input and (side == 0 or full % side):
                raise ValueError(f"output '{info.name}' side {side} is not {name} / stride")
            stride = full // side
            dims[axis].Clear()
            dims[axis].dim_param = name if stride == 1 else f"{name}/{stride}"
