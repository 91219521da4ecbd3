"""Trained Keras weights -> ONNX with fanet_ros metadata, checked against Keras (the export
behind ``fanet-export``, whose command line is :mod:`fanet_training.export_cli`).

The model is rebuilt at the requested size, the weights loaded and converted with
``keras.Model.export(format="onnx")`` (tf2onnx), which maps it to clean ops (dilated
``Conv``, ``Resize``, ``MaxPool``). The graph is then made size-agnostic
(:mod:`fanet_ros.onnx.sizes`: the few nodes that hold the size read it at run time), so
it runs at any input whose sides are multiples of 32 at the fixed export's speed; a
fixed export keeps the graph at the requested size only. A model that pass cannot handle
is exported with tf2onnx's dynamic height and width instead (a larger, slower graph:
tf2onnx rewrites dilated convolutions of unknown size into space-to-depth steps). The
head says where the graph ends (:data:`HEADS`; the graph code is in
:mod:`fanet_ros.onnx.heads`). ONNX Runtime is then run on the same input as Keras and the
difference returned; :func:`convert_onnx_file` cuts an exported ``.onnx`` to the logits
head or makes a fixed-size one size-agnostic, checked against the old labels.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from fanet_ros.dataset_layouts import label_set_for_layout
from fanet_ros.label_upsampling import LOGITS_STRIDE
from fanet_ros.labels import LabelSet
from fanet_ros.model_metadata import ModelMetadata, Normalization, attach_metadata
from fanet_ros.onnx.heads import append_argmax, cut_to_logits, softmax_on_last_axis
from fanet_ros.onnx.sizes import make_size_agnostic
from fanet_training import run_state

OPSET = 17
HEADS = ("logits", "probabilities", "labels")
TOLERANCE = {"probabilities": 1e-4, "logits": 1e-3}
"""Largest |ONNX Runtime - Keras| difference accepted per float head."""
LABEL_AGREEMENT = 0.9999
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
    """What :func:`fanet_ros.onnx.sizes.make_size_agnostic` rewrote."""
    size_mode: str = "fixed"
    """``size-agnostic``, ``dynamic`` (tf2onnx's own, where the pass could not run) or
    ``fixed``."""


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


def weights_beside(output: Path) -> Path:
    """``save_weights``' file for the ONNX file ``output``: ``<name>.weights.h5`` beside it."""
    return output.with_name(output.stem + ".weights.h5")


def export(weights: Path, model_name: str, layout: str, output: Path, height: int, width: int,
           any_size: bool = True, head: str | None = None, extra: dict | None = None,
           dataset_name: str | None = None,
           normalization: Normalization | None = None,
           save_weights: bool = False, label_set: LabelSet | None = None) -> ExportResult:
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

    label_set = label_set or label_set_for_layout(layout)  # a run's own classes, else layout's
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
    elif head == "probabilities":
        softmax_on_last_axis(proto)
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
        reference.save_weights(weights_beside(output))
    return ExportResult(output, ops, diff, agreement, head, tuple(changes), mode)


def size_agnostic_graph(proto: onnx.ModelProto, model_name: str, num_classes: int, head: str,
                        weights: Path) -> tuple[onnx.ModelProto, list[str], str]:
    """The fixed export ``proto`` made size-agnostic: ``(graph, changes, mode)``.

    Where :func:`fanet_ros.onnx.sizes.make_size_agnostic` cannot prove a node right at
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
    (``any_size``, :func:`fanet_ros.onnx.sizes.make_size_agnostic`); labels checked.

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


def onnx_metadata(path: Path) -> ModelMetadata | None:
    """The fanet_ros metadata of an ONNX file, None without it."""
    from fanet_ros.model_metadata import metadata_of_proto

    proto = onnx.load(str(path), load_external_data=False)
    try:
        return metadata_of_proto(proto, path)
    except ValueError:
        return None
