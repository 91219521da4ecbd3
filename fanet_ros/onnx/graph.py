"""Small helpers every graph rewrite here needs: a constant's value, dropping dead nodes."""

from __future__ import annotations

import numpy as np
import onnx


def initializer(graph: onnx.GraphProto, name: str) -> np.ndarray | None:
    """The value of the constant ``name``; None when no initializer has that name."""
    for tensor in graph.initializer:
        if tensor.name == name:
            return onnx.numpy_helper.to_array(tensor)
    return None


def prune(graph: onnx.GraphProto) -> None:
    """Drop the nodes and initializers no graph output depends on."""
    producers = {out: node for node in graph.node for out in node.output}
    needed, stack, keep = set(), [o.name for o in graph.output], set()
    while stack:
        tensor = stack.pop()
        if tensor in needed:
            continue
        needed.add(tensor)
        node = producers.get(tensor)
        if node is not None and id(node) not in keep:
            keep.add(id(node))
            stack.extend(i for i in node.input if i)
    kept_nodes = [n for n in graph.node if id(n) in keep]
    del graph.node[:]
    graph.node.extend(kept_nodes)
    kept_init = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(kept_init)
    kept_info = [v for v in graph.value_info if v.name in needed]
    del graph.value_info[:]
    graph.value_info.extend(kept_info)
