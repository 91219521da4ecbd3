"""``fanet-export``: trained Keras weights -> ONNX with fanet_ros metadata, checked against Keras.

The model is rebuilt at the requested size, the weights loaded and converted with
``keras.Model.export(format="onnx")`` (tf2onnx), which maps it to clean ops (dilated
``Conv``, ``Resize``, ``MaxPool``). The graph is then made size-agnostic
(:mod:`fanet_ros.onnx_sizes`: the few nodes that hold the size read it at run time), so
it runs at any input whose sides are multiples of 32 at the fixed export's speed;
``--fixed`` keeps the graph at the requested size only. A model that pass cannot handle
is exported with tf2onnx's dynamic height and width instead (a larger, slower graph:
tf2onnx rewrites dilated convolutions of unknown size into space-to-depth steps). The
head (``--head``) says where the graph ends:

* ``logits`` (default for models whose classifier is at stride 8): the
  classifier's float32 logits, NHWC ``[1, H/8, W/8, C]``; the node turns them
  into labels at any size, exactly as a full-resolution bilinear resize +
  arg-max would (fanet_ros.label_upsampling).
* ``probabilities`` (default for the others, e.g. FSFFNet at stride 2, ESPNet
  at stride 4): float32 softmax at the input size, ``[1, H, W, C]``.
* ``labels`` (``--labels``): uint8 arg-max at the input size, ``[1, H, W]``.

ONNX Runtime is then run on the same input as Keras and the difference printed.
An exported ``.onnx`` with a full-resolution head can also be cut to the logits
head (``fanet-export old.onnx --head logits --output new.onnx``), and a fixed-size
``.onnx`` is made size-agnostic by the same pass (no weights needed); both are checked
against the old labels on random inputs and synthetic frames.

``--quantize int8 --calibration-dir DIR`` writes a static INT8 (QDQ) logits model
for ONNX Runtime on the CPU instead (fanet_training.quantize), from weights or
from an exported ``.onnx``; its val mIoU and speed are in docs/performance.md.

Example::

    fanet-export runs/fanet_camvid --height 384 --width 512 --output fanet_camvid.onnx
    fanet-export old_fixed_size.onnx --output fanet_camvid.onnx   # any multiple-of-32 size
    fanet-export fanet_camvid.onnx --quantize int8 --calibration-dir /data/camvid/train \
        --output fanet_camvid_int8.onnx
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from fanet_ros.dataset_layouts import label_set_for_layout
from fanet_ros.label_upsampling import LOGITS_STRIDE
from fanet_ros.model_metadata import ModelMetadata, Normalization, attach_metadata
from fanet_ros.onnx_labels import argmax_labels
from fanet_ros.onnx_sizes import make_size_agnostic
from fanet_training import run_state
from fanet_training.tensorrt_ops import check_for_tensorrt

OPSET = 17
HEADS = ("logits", "probabilities", "labels")
TOLERANCE = {"probabilities": 1e-4, "logits": 1e-3}
"""Largest |ONNX Runtime - Keras| difference accepted per float head."""
LABEL_AGREEMENT = 0.9999
SIZE_MODES = {"size-agnostic": "any multiple-of-32 size (size-agnostic graph), default ",
              "dynamic": "any multiple-of-32 size (tf2onnx dynamic H/W), default ",
              "fixed": "fixed "}
"""How ``fanet-export`` names each :attr:`ExportResult.size_mode` when it reports."""
KERAS_OUTPUT = {"logits": "low_res_logits", "probabilities": "probabilities",
                "labels": "probabilities"}


@dataclass(frozen=True)
class ExportResult:
    path: Path
    ops: list[str]
    max_difference: float
    """Largest |ONNX Runtime - Keras| output difference (nan for the labels head)."""
    label_agreement: float
    """Share of pixels whose labels at the input size agree with Keras' full-resolution ones."""
    head: str = "logits"
    size_changes: tuple[str, ...] = ()
    """What :func:`fanet_ros.onnx_sizes.make_size_agnostic` rewrote."""
    size_mode: str = "fixed"
    """``size-agnostic``, ``dynamic`` (tf2onnx's own, where the pass could not run) or
    ``fixed``."""


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

    def producer(tensor: str, readers: int) -> onnx.NodeProto | None:
        """The node making ``tensor``, if it is the only one and ``readers`` nodes read it."""
        producers = [node for node in graph.node if tensor in node.output]
        consumers = [node for node in graph.node if tensor in node.input]
        return producers[0] if len(producers) == 1 and len(consumers) == readers else None

    node = producer(output, readers=0)
    chain, class_axis = [], 3
    if node is not None and node.op_type == "Transpose":
        perm = list(next(a.ints for a in node.attribute if a.name == "perm"))
        if perm[:3] != sorted(perm[:3]):  # the other axes must keep their order
            return output, 3
        chain, class_axis = [node], perm[3]
        node = producer(node.input[0], readers=1)
    if node is None or node.op_type != "Softmax":
        return output, 3
    axis = next((a.i for a in node.attribute if a.name == "axis"), -1) % 4
    if axis != class_axis:
        return output, 3
    for dropped in [node, *chain]:
        graph.node.remove(dropped)
    return node.input[0], class_axis


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
    scales = _initializer(graph, node.input[2]) if len(node.input) > 2 else None
    logits = node.input[0]
    if scales is not None and scales.size == 4 and scales[1] == 1 and scales[3] != 1:
        graph.node.append(helper.make_node("Transpose", [logits], ["logits"], perm=[0, 2, 3, 1]))
    else:
        graph.node.append(helper.make_node("Identity", [logits], ["logits"]))
    dims = graph.input[0].type.tensor_type.shape.dim
    batch = dims[0].dim_param or dims[0].dim_value or "batch"
    old = graph.output[0]
    graph.output.remove(old)
    graph.output.append(helper.make_tensor_value_info("logits", TensorProto.FLOAT, None))
    _prune(graph)
    inferred = onnx.shape_inference.infer_shapes(model)
    shape = inferred.graph.output[0].type.tensor_type.shape
    if shape.dim:
        graph.output[0].type.tensor_type.shape.CopyFrom(shape)
        graph.output[0].type.tensor_type.shape.dim[0].Clear()
        if isinstance(batch, str):
            graph.output[0].type.tensor_type.shape.dim[0].dim_param = batch
        else:
            graph.output[0].type.tensor_type.shape.dim[0].dim_value = batch


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
        _prune(graph)
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


def _initializer(graph: onnx.GraphProto, name: str) -> np.ndarray | None:
    for tensor in graph.initializer:
        if tensor.name == name:
            return onnx.numpy_helper.to_array(tensor)
    return None


def _prune(graph: onnx.GraphProto) -> None:
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


def convert(model, path: Path, dynamic: bool = False) -> onnx.ModelProto:
    """Keras model -> ONNX (opset 17) via ``keras.Model.export``; ``dynamic``: tf2onnx traces
    unknown height and width."""
    import tensorflow as tf

    height, width = (None, None) if dynamic else model.input_shape[1:3]
    signature = [tf.TensorSpec((None, height, width, 3), tf.float32, name="image")]
    model.export(str(path), format="onnx", input_signature=signature, opset_version=OPSET,
                 verbose=False)
    return onnx.load(str(path))


def check_against_keras(model, reference, onnx_path: Path, height: int, width: int, head: str,
                        seed: int = 0) -> tuple[float, float]:
    """Run Keras and ONNX Runtime on one input: (max output diff or nan, label agreement).

    ``model`` is the exported Keras model; ``reference`` the same weights with the
    probabilities head, whose arg-max the labels at the input size are compared with.
    """
    import onnxruntime as ort

    from fanet_ros.runtime.base import labels_from_output

    image = np.random.default_rng(seed).random((1, height, width, 3), dtype=np.float32)
    expected_labels = np.asarray(reference.predict_on_batch(image))[0].argmax(-1)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    output = session.run(None, {session.get_inputs()[0].name: image})[0]
    labels = labels_from_output(output, head, (height, width))
    agreement = float((labels == expected_labels).mean())
    if head == "labels":
        return float("nan"), agreement
    expected = np.asarray(model.predict_on_batch(image))
    return float(np.abs(output - expected).max()), agreement


def logits_stride(model) -> int:
    """Input pixels per class logit of a fixed-size model built with a full-resolution head:
    its classifier's stride (FANet 8, FSFFNet 2, ESPNet 4)."""
    logits = model.get_layer("classifier_upsample").input[0]
    return int(model.input.shape[1]) // int(logits.shape[1])


def choose_head(model_name: str, stride: int, head: str | None) -> str:
    """``head``, or by default ``logits`` for a classifier at the node's stride 8 and
    ``probabilities`` otherwise; ``ValueError`` for ``logits`` at another stride."""
    if head is not None and head not in HEADS:
        raise ValueError(f"unknown head {head!r}; one of {', '.join(HEADS)}")
    if head is None:
        return "logits" if stride == LOGITS_STRIDE else "probabilities"
    if head == "logits" and stride != LOGITS_STRIDE:
        raise ValueError(f"{model_name}'s classifier is at stride {stride}, but the logits head "
                         f"carries stride-{LOGITS_STRIDE} logits (what the node upsamples): "
                         "export it with --head probabilities or --head labels")
    return head


def export(weights: Path, model_name: str, layout: str, output: Path, height: int, width: int,
           any_size: bool = True, head: str | None = None, extra: dict | None = None,
           dataset_name: str | None = None,
           normalization: Normalization | None = None,
           save_weights: bool = False) -> ExportResult:
    """Export, attach metadata, list/check ops and verify against Keras; raises on a mismatch.

    ``any_size`` (the default): the graph takes any height and width that are multiples of
    32 (:func:`size_agnostic_graph`); ``height x width`` is the size the metadata names
    (trained and checked at). Otherwise the graph holds that size's resize factors and
    pooling pads, valid at that size only. ``head=None`` picks :func:`choose_head`'s
    default for the model. ``save_weights`` also writes the Keras weights (no optimizer
    state) beside the ONNX file as ``<name>.weights.h5``, where ``fanet-train
    --init-from`` finds them.
    """
    from fanet_training.models import build_model

    label_set = label_set_for_layout(layout)
    if dataset_name:
        label_set = dataclasses.replace(label_set, name=dataset_name)
    # The probabilities model at the export size: the labels reference, and its stride.
    reference = build_model(model_name, label_set.num_classes, (height, width, 3))
    head = choose_head(model_name, logits_stride(reference), head)
    reference.load_weights(weights)
    model = reference
    if head != "probabilities":
        model = build_model(model_name, label_set.num_classes, (height, width, 3),
                            output=KERAS_OUTPUT[head])
        model.load_weights(weights)
    with tempfile.TemporaryDirectory() as tmp:
        proto = convert(model, Path(tmp) / "model.onnx")
    changes, mode = (), "fixed"
    if any_size:
        proto, changes, mode = size_agnostic_graph(proto, model_name, label_set.num_classes,
                                                   head, weights)
    if head == "labels":
        append_argmax(proto)
    metadata = ModelMetadata.for_label_set(
        label_set, model=model_name, input_height=height, input_width=width,
        output=head, dynamic_size=any_size, extra=extra or {},
        normalization=normalization or Normalization())
    attach_metadata(proto, metadata)
    onnx.checker.check_model(proto)
    output.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(output))
    ops = sorted({node.op_type for node in proto.graph.node})
    diff, agreement = check_against_keras(model, reference, output, height, width, head)
    if save_weights:
        reference.save_weights(output.with_name(output.stem + ".weights.h5"))
    return ExportResult(output, ops, diff, agreement, head, tuple(changes), mode)


def size_agnostic_graph(proto: onnx.ModelProto, model_name: str, num_classes: int, head: str,
                        weights: Path) -> tuple[onnx.ModelProto, list[str], str]:
    """The fixed export ``proto`` made size-agnostic: ``(graph, changes, mode)``.

    Where :func:`fanet_ros.onnx_sizes.make_size_agnostic` cannot prove a node right at
    every size (e.g. an adaptive pooling whose averaging matrices hold the size), the model
    is converted again with tf2onnx's dynamic height and width (mode ``dynamic``).
    """
    from fanet_training.models import build_model

    try:
        return proto, make_size_agnostic(proto), "size-agnostic"
    except ValueError as exc:
        print(f"fanet-export: {exc}; exporting with tf2onnx's dynamic height and width")
    model = build_model(model_name, num_classes, (None, None, 3), output=KERAS_OUTPUT[head])
    model.load_weights(weights)
    with tempfile.TemporaryDirectory() as tmp:
        return convert(model, Path(tmp) / "model.onnx", dynamic=True), [], "dynamic"


def convert_onnx_file(source: Path, output: Path, cut: bool, any_size: bool,
                      frames: int = 4, seed: int = 0) -> ExportResult:
    """An exported model cut to the logits head (``cut``) and/or made size-agnostic
    (``any_size``, :func:`fanet_ros.onnx_sizes.make_size_agnostic`); labels checked.

    Cutting ends the graph at the input of the classifier's full-resolution ``Resize``
    (:func:`cut_to_logits`). The labels the new model gives through
    :func:`fanet_ros.runtime.base.labels_from_output` are compared with the old model's on
    ``frames`` random inputs and ``frames`` synthetic street scenes (fanet_ros.synthetic) at
    the model's input size. ``output`` may be ``source``.
    """
    import onnxruntime as ort

    from fanet_ros.model_metadata import metadata_of_proto

    proto = onnx.load(str(source))
    old = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    metadata = metadata_of_proto(proto, source)
    height, width = metadata.input_height, metadata.input_width
    extra = dict(metadata.extra)
    if cut:
        if metadata.output == "logits":
            raise ValueError(f"{source} already outputs logits")
        cut_to_logits(proto)
        probe = ort.InferenceSession(proto.SerializeToString(),
                                     providers=["CPUExecutionProvider"])
        logits = probe.run(None, {probe.get_inputs()[0].name: np.zeros(
            (1, height, width, 3), np.float32)})[0]
        if logits.shape[1] * LOGITS_STRIDE != height:
            raise ValueError(f"{source}: its classifier is at stride {height // logits.shape[1]}"
                             f", but the logits head carries stride-{LOGITS_STRIDE} logits; keep "
                             f"the {metadata.output} model")
        extra["converted_from"] = f"{source.name} ({metadata.output} head)"
    changes: list[str] = []
    if any_size:
        if metadata.dynamic_size:
            raise ValueError(f"{source} already takes any multiple-of-32 size")
        changes = make_size_agnostic(proto, metadata.size_multiple)
        extra["size_agnostic_from"] = f"{source.name} (fixed {height}x{width})"
    head = "logits" if cut else metadata.output
    attach_metadata(proto, dataclasses.replace(
        metadata, output=head, dynamic_size=metadata.dynamic_size or any_size, extra=extra))
    onnx.checker.check_model(proto)
    output.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(output))

    agreement = label_agreement(old, metadata.output, output, head, metadata, frames, seed)
    ops = sorted({node.op_type for node in proto.graph.node})
    return ExportResult(output, ops, float("nan"), agreement, head, tuple(changes),
                        "size-agnostic" if any_size else "fixed")


def label_agreement(old, old_head: str, new_path: Path, new_head: str, metadata: ModelMetadata,
                    frames: int = 4, seed: int = 0) -> float:
    """Share of pixels where the ONNX Runtime session ``old`` and the model ``new_path`` give
    the same labels, over ``frames`` random inputs and ``frames`` synthetic street scenes
    (fanet_ros.synthetic) at the metadata's input size."""
    import onnxruntime as ort

    from fanet_ros.preprocessing import normalize
    from fanet_ros.runtime.base import labels_from_output
    from fanet_ros.synthetic import generate_drive

    height, width = metadata.input_height, metadata.input_width
    rng = np.random.default_rng(seed)
    inputs = [rng.random((1, height, width, 3), dtype=np.float32) for _ in range(frames)]
    for rgb, _ in generate_drive(seed, frames, height=height, width=width):
        batch = np.empty((1, height, width, 3), np.float32)
        normalize(rgb, metadata.normalization, out=batch[0])
        inputs.append(batch)
    new = ort.InferenceSession(str(new_path), providers=["CPUExecutionProvider"])
    agree = total = 0
    for batch in inputs:
        before = old.run(None, {old.get_inputs()[0].name: batch})[0]
        after = new.run(None, {new.get_inputs()[0].name: batch})[0]
        labels_before = labels_from_output(before, old_head, (height, width))
        labels_after = labels_from_output(after, new_head, (height, width))
        agree += int(np.count_nonzero(labels_before == labels_after))
        total += labels_before.size
    return agree / total


def run_provenance(run_dir: Path) -> dict:
    """Epochs and val mIoU of the run; the run folder by name only (models travel, the
    folders of the machine they were trained on mean nothing elsewhere)."""
    state = run_state.read_json(run_dir / run_state.STATE)
    return {"epochs": state.get("epoch"), "best_epoch": state.get("best_epoch"),
            "val_miou": state.get("best_val_miou"), "run_dir": run_dir.resolve().name}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path,
                        help="a run folder of fanet-train (uses best.weights.h5 and config.json), "
                             "a .weights.h5 file (then give --model and --layout), or an exported "
                             ".onnx: a fixed-size one is made size-agnostic, a probabilities or "
                             "labels head is cut to the logits head (--head logits)")
    parser.add_argument("--output", type=Path, required=True, help="ONNX file to write")
    parser.add_argument("--model", help="model name (default: the run's)")
    parser.add_argument("--layout", help="dataset layout / label set (default: the run's)")
    parser.add_argument("--height", type=int, help="input height, multiple of 32")
    parser.add_argument("--width", type=int, help="input width, multiple of 32")
    parser.add_argument("--any-size", "--dynamic", dest="any_size", action="store_true",
                        default=True,
                        help="the default: the graph runs at any size whose sides are multiples "
                             "of 32 (a fixed export made size-agnostic, fanet_ros.onnx_sizes); "
                             "height/width stay the default size in the metadata. An .onnx "
                             "source with a fixed size is converted so")
    parser.add_argument("--fixed", dest="any_size", action="store_false",
                        help="fix H/W at --height x --width (the graph holds that size's resize "
                             "factors and pooling pads and runs at that size only)")
    parser.add_argument("--head", choices=HEADS, default=None,
                        help="where the graph ends: stride-8 logits [1,H/8,W/8,C] (the node "
                             "upsamples labels exactly), probabilities [1,H,W,C] or uint8 "
                             "labels [1,H,W]; default: logits for models whose classifier is at "
                             "stride 8, probabilities for the others")
    parser.add_argument("--labels", dest="head", action="store_const", const="labels",
                        help="same as --head labels")
    parser.add_argument("--dataset-name",
                        help="dataset name in the metadata (default: the layout's label set), "
                             "e.g. 'synthetic' for a model trained on generated scenes")
    parser.add_argument("--save-weights", action="store_true",
                        help="also write the Keras weights beside the ONNX file as "
                             "<name>.weights.h5 (what fanet-train --init-from reads)")
    parser.add_argument("--quantize", choices=("int8",),
                        help="write a static INT8 (QDQ) model for ONNX Runtime on the CPU, "
                             "calibrated on --calibration-dir (fanet_training.quantize); the "
                             "float model is not kept")
    parser.add_argument("--calibration-dir", type=Path,
                        help="images for --quantize (e.g. the training split's images)")
    parser.add_argument("--calibration-frames", type=int, default=100,
                        help="calibration images, spread evenly over the folder (default 100)")
    parser.add_argument("--allow-unsupported-ops", action="store_true",
                        help="warn instead of failing on ops TensorRT cannot parse")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    source: Path = args.source
    if args.quantize and (args.head not in (None, "logits") or not args.calibration_dir):
        print("fanet-export: error: --quantize int8 needs --calibration-dir and the logits "
              "head", file=sys.stderr)
        return 2
    if args.quantize:
        with tempfile.TemporaryDirectory() as tmp:
            output, args.output = args.output, Path(tmp) / "float.onnx"
            status = main_float(source, args)
            return status or quantize_output(args.output, output, args)
    return main_float(source, args)


def quantize_output(float_model: Path, output: Path, args: argparse.Namespace) -> int:
    """``--quantize int8``: the INT8 copy of ``float_model`` to ``output``, with its check."""
    from fanet_ros.tensorrt.calibration_data import ImageFolderError
    from fanet_training.quantize import quantize_int8

    try:
        result = quantize_int8(float_model, output, args.calibration_dir,
                               args.calibration_frames)
    except (ValueError, ImageFolderError) as exc:
        print(f"fanet-export: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {result.path} (INT8 QDQ, calibrated on {result.calibration_frames} images of "
          f"{args.calibration_dir})")
    print(f"INT8 vs float model: labels identical on {100 * result.label_agreement:.2f}% of "
          "pixels of calibration images; measure the val mIoU before deploying it "
          "(bench/ort_tuning.py --camvid)")
    return 0


def main_float(source: Path, args: argparse.Namespace) -> int:
    """Export (or cut) the float model to ``args.output``; 0 when every check passed."""
    if source.suffix == ".onnx":
        return convert_onnx(source, args)
    config, extra = {}, {}
    if source.is_dir():
        config = run_state.read_json(source / run_state.CONFIG)
        extra = run_provenance(source)
        source = source / run_state.BEST
    if not source.is_file():
        print(f"fanet-export: error: no weights file '{source}'", file=sys.stderr)
        return 2
    model_name = args.model or config.get("model")
    layout = args.layout or config.get("layout")
    height = args.height or config.get("height")
    width = args.width or config.get("width")
    if not (model_name and layout and height and width):
        print("fanet-export: error: give --model, --layout, --height and --width "
              "(or a run folder that records them)", file=sys.stderr)
        return 2
    if height % 32 or width % 32:
        print(f"fanet-export: error: {height}x{width}: sides must be multiples of 32",
              file=sys.stderr)
        return 2
    try:
        result = export(source, model_name, layout, args.output, height, width, args.any_size,
                        args.head, extra, args.dataset_name,
                        Normalization.from_dict(config.get("normalization")),
                        args.save_weights)
    except ValueError as exc:
        print(f"fanet-export: error: {exc}", file=sys.stderr)
        return 2
    args.head = result.head
    print(f"wrote {result.path} ({model_name}, {layout}, "
          f"{SIZE_MODES[result.size_mode]}{height}x{width}, output {args.head}, opset {OPSET})")
    for change in result.size_changes:
        print(f"  {change}")
    failed = report_ops(result, args.allow_unsupported_ops)
    if args.head in TOLERANCE:
        limit = TOLERANCE[args.head]
        ok = result.max_difference <= limit
        name = "logit" if args.head == "logits" else "probability"
        print(f"ONNX Runtime vs Keras: max |{name} difference| {result.max_difference:.2e} "
              f"({'ok' if ok else 'TOO LARGE'}, limit {limit:g})")
        failed |= not ok
    ok = result.label_agreement >= LABEL_AGREEMENT
    print(f"ONNX Runtime vs Keras: labels at {height}x{width} identical on "
          f"{100 * result.label_agreement:.4f}% of pixels ({'ok' if ok else 'TOO FEW'})")
    failed |= not ok
    return 1 if failed else 0


def convert_onnx(source: Path, args: argparse.Namespace) -> int:
    """``fanet-export model.onnx``: cut an exported model to the logits head and/or make a
    fixed-size model size-agnostic (no weights needed)."""
    if not source.is_file():
        print(f"fanet-export: error: no ONNX file '{source}'", file=sys.stderr)
        return 2
    metadata = _metadata(source)
    kind = metadata.output if metadata else None
    if args.head not in (None, "logits", kind):
        print("fanet-export: error: an .onnx source can only be cut to --head logits; export "
              "other heads from the training run's weights", file=sys.stderr)
        return 2
    if args.quantize and kind == "logits":
        shutil.copyfile(source, args.output)  # already logits: quantised as it is
        return 0
    cut = kind != "logits" and args.head in (None, "logits")
    any_size = (args.any_size and not args.quantize and metadata is not None
                and not metadata.dynamic_size)
    if metadata is not None and not (cut or any_size):
        print(f"fanet-export: error: {source} already outputs {kind} at any multiple-of-32 size "
              "(or --fixed was given): nothing to convert", file=sys.stderr)
        return 2
    try:
        result = convert_onnx_file(source, args.output, cut, any_size)
    except ValueError as exc:
        print(f"fanet-export: error: {exc}", file=sys.stderr)
        return 2
    done = ["cut to the logits head" if cut else "",
            f"made size-agnostic ({len(result.size_changes)} nodes rewritten)" if any_size else ""]
    print(f"wrote {result.path} ({source}: {', '.join(d for d in done if d)}; opset kept)")
    for change in result.size_changes:
        print(f"  {change}")
    failed = report_ops(result, args.allow_unsupported_ops)
    ok = result.label_agreement >= LABEL_AGREEMENT
    print(f"new vs old model: labels identical on {100 * result.label_agreement:.4f}% of "
          f"pixels over random inputs and synthetic frames ({'ok' if ok else 'TOO FEW'})")
    return 1 if failed or not ok else 0


def _output_kind(path: Path) -> str | None:
    """The ``output`` its metadata declares, None without fanet_ros metadata."""
    metadata = _metadata(path)
    return None if metadata is None else metadata.output


def _metadata(path: Path) -> ModelMetadata | None:
    """The fanet_ros metadata of an ONNX file, None without it."""
    from fanet_ros.model_metadata import metadata_of_proto

    proto = onnx.load(str(path), load_external_data=False)
    try:
        return metadata_of_proto(proto, path)
    except ValueError:
        return None


def report_ops(result: ExportResult, allow_unsupported: bool) -> bool:
    """Print the ops and whether TensorRT's parser takes the graph (ops and data types, on the
    graph the engine builder prepares); True when that fails the export."""
    print(f"ops: {', '.join(result.ops)}")
    trt_check = check_for_tensorrt(onnx.load(str(result.path)))
    for change in trt_check.changes:
        print(f"TensorRT engine builder: {change}")
    if trt_check.problems:
        print(f"{'warning' if allow_unsupported else 'error'}: TensorRT's ONNX parser "
              "would reject the model:\n  " + "\n  ".join(trt_check.problems), file=sys.stderr)
        return not allow_unsupported
    print("all ops and data types are ones TensorRT's ONNX parser (8.6 and 10.x) takes")
    return False


if __name__ == "__main__":
    sys.exit(main())
