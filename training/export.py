"""``fanet-export``: trained Keras weights -> ONNX with fanet_ros metadata, checked against Keras.

The model is rebuilt at the requested size (or with dynamic H/W), the weights
loaded, converted with ``keras.Model.export(format="onnx")`` (tf2onnx), and
optionally given an ArgMax + Cast so it outputs uint8 labels ``[1, H, W]``.
ONNX Runtime is then run on the same input as Keras and the difference printed.

Example::

    fanet-export runs/fanet_camvid --height 384 --width 512 --output fanet_camvid.onnx
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from fanet_ros.dataset_layouts import label_set_for_layout
from fanet_ros.model_metadata import ModelMetadata, attach_metadata
from fanet_training import run_state
from fanet_training.tensorrt_ops import check_for_tensorrt

OPSET = 17
PROBABILITY_TOLERANCE = 1e-4
LABEL_AGREEMENT = 0.9999


@dataclass(frozen=True)
class ExportResult:
    path: Path
    ops: list[str]
    max_probability_diff: float
    label_agreement: float


def append_argmax(model: onnx.ModelProto) -> None:
    """Fold the arg-max in: output ``labels`` uint8 ``[N, H, W]`` instead of probabilities."""
    graph = model.graph
    probabilities = graph.output[0]
    dims = probabilities.type.tensor_type.shape.dim
    shape = [d.dim_param or d.dim_value or None for d in dims[:3]]
    scores, axis = _class_scores(graph, probabilities.name)
    graph.node.extend([
        helper.make_node("ArgMax", [scores], ["argmax"], axis=axis, keepdims=0),
        helper.make_node("Cast", ["argmax"], ["labels"], to=TensorProto.UINT8),
    ])
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


def convert(model, path: Path, dynamic: bool) -> onnx.ModelProto:
    """Keras model -> ONNX (opset 17) via ``keras.Model.export``."""
    import tensorflow as tf

    height, width = (None, None) if dynamic else model.input_shape[1:3]
    signature = [tf.TensorSpec((None, height, width, 3), tf.float32, name="image")]
    model.export(str(path), format="onnx", input_signature=signature, opset_version=OPSET,
                 verbose=False)
    return onnx.load(str(path))


def check_against_keras(model, onnx_path: Path, height: int, width: int, labels: bool,
                        seed: int = 0) -> tuple[float, float]:
    """Run Keras and ONNX Runtime on one input; (max prob diff or nan, label agreement)."""
    import onnxruntime as ort

    image = np.random.default_rng(seed).random((1, height, width, 3), dtype=np.float32)
    expected = np.asarray(model.predict_on_batch(image))
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    output = session.run(None, {session.get_inputs()[0].name: image})[0]
    if labels:
        return float("nan"), float((output == expected.argmax(-1)).mean())
    return float(np.abs(output - expected).max()), float(
        (output.argmax(-1) == expected.argmax(-1)).mean())


def export(weights: Path, model_name: str, layout: str, output: Path, height: int, width: int,
           dynamic: bool = False, labels: bool = False, extra: dict | None = None,
           dataset_name: str | None = None) -> ExportResult:
    """Export, attach metadata, list/check ops and verify against Keras; raises on a mismatch."""
    from fanet_training.models import build_model

    label_set = label_set_for_layout(layout)
    if dataset_name:
        label_set = dataclasses.replace(label_set, name=dataset_name)
    shape = (None, None, 3) if dynamic else (height, width, 3)
    model = build_model(model_name, label_set.num_classes, shape)
    model.load_weights(weights)
    with tempfile.TemporaryDirectory() as tmp:
        proto = convert(model, Path(tmp) / "model.onnx", dynamic)
    if labels:
        append_argmax(proto)
    metadata = ModelMetadata.for_label_set(
        label_set, model=model_name, input_height=height, input_width=width,
        output="labels" if labels else "probabilities", dynamic_size=dynamic,
        extra=extra or {})
    attach_metadata(proto, metadata)
    onnx.checker.check_model(proto)
    output.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(output))
    ops = sorted({node.op_type for node in proto.graph.node})
    diff, agreement = check_against_keras(model, output, height, width, labels)
    return ExportResult(output, ops, diff, agreement)


def run_provenance(run_dir: Path) -> dict:
    state = run_state.read_json(run_dir / run_state.STATE)
    return {"epochs": state.get("epoch"), "best_epoch": state.get("best_epoch"),
            "val_miou": state.get("best_val_miou"), "run_dir": str(run_dir)}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path,
                        help="a run folder of fanet-train (uses best.weights.h5 and config.json) "
                             "or a .weights.h5 file (then give --model and --layout)")
    parser.add_argument("--output", type=Path, required=True, help="ONNX file to write")
    parser.add_argument("--model", help="model name (default: the run's)")
    parser.add_argument("--layout", help="dataset layout / label set (default: the run's)")
    parser.add_argument("--height", type=int, help="input height, multiple of 32")
    parser.add_argument("--width", type=int, help="input width, multiple of 32")
    parser.add_argument("--dynamic", action="store_true",
                        help="dynamic H/W (height/width stay the default size in the metadata)")
    parser.add_argument("--labels", action="store_true",
                        help="fold the arg-max in: output uint8 labels [1,H,W]")
    parser.add_argument("--dataset-name",
                        help="dataset name in the metadata (default: the layout's label set), "
                             "e.g. 'synthetic' for a model trained on generated scenes")
    parser.add_argument("--allow-unsupported-ops", action="store_true",
                        help="warn instead of failing on ops TensorRT cannot parse")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    source: Path = args.source
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
    result = export(source, model_name, layout, args.output, height, width, args.dynamic,
                    args.labels, extra, args.dataset_name)
    print(f"wrote {result.path} ({model_name}, {layout}, "
          f"{'dynamic H/W, default ' if args.dynamic else ''}{height}x{width}, "
          f"output {'labels' if args.labels else 'probabilities'}, opset {OPSET})")
    print(f"ops: {', '.join(result.ops)}")
    failed = False
    trt_check = check_for_tensorrt(onnx.load(str(result.path)))
    for change in trt_check.changes:
        print(f"TensorRT engine builder: {change}")
    if trt_check.problems:
        print(f"{'warning' if args.allow_unsupported_ops else 'error'}: TensorRT's ONNX parser "
              "would reject the model:\n  " + "\n  ".join(trt_check.problems), file=sys.stderr)
        failed = not args.allow_unsupported_ops
    else:
        print("all ops and data types are ones TensorRT's ONNX parser (8.6 and 10.x) takes")
    if not args.labels:
        ok = result.max_probability_diff <= PROBABILITY_TOLERANCE
        print(f"ONNX Runtime vs Keras: max |probability difference| "
              f"{result.max_probability_diff:.2e} ({'ok' if ok else 'TOO LARGE'}, "
              f"limit {PROBABILITY_TOLERANCE:g})")
        failed |= not ok
    ok = result.label_agreement >= LABEL_AGREEMENT
    print(f"ONNX Runtime vs Keras: labels identical on {100 * result.label_agreement:.4f}% of "
          f"pixels ({'ok' if ok else 'TOO FEW'})")
    failed |= not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
