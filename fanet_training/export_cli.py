"""``fanet-export``: trained Keras weights -> ONNX with fanet_ros metadata, checked against Keras.

The model is rebuilt at the requested size, the weights loaded and converted with
``keras.Model.export(format="onnx")`` (tf2onnx), which maps it to clean ops (dilated
``Conv``, ``Resize``, ``MaxPool``). The graph is then made size-agnostic
(:mod:`fanet_ros.onnx.sizes`: the few nodes that hold the size read it at run time), so
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
import os
import shutil
import sys
import tempfile
from pathlib import Path

import onnx

from fanet_ros.model_metadata import Normalization
from fanet_ros.onnx.tensorrt_graph import check_for_tensorrt
from fanet_training import run_state
from fanet_training.export import (
    HEADS,
    LABEL_AGREEMENT,
    OPSET,
    TOLERANCE,
    ExportResult,
    convert_onnx_file,
    export,
    onnx_metadata,
    run_provenance,
    weights_beside,
)

SIZE_MODES = {"size-agnostic": "any multiple-of-32 size (size-agnostic graph), default ",
              "dynamic": "any multiple-of-32 size (tf2onnx dynamic H/W), default ",
              "fixed": "fixed "}
"""How ``fanet-export`` names each :attr:`ExportResult.size_mode` when it reports."""


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
                             "of 32 (a fixed export made size-agnostic, fanet_ros.onnx.sizes); "
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
    final, args.output = args.output, partial_path(args.output)
    args.final_output = final
    status = 1  # an exception leaves nothing behind either
    try:
        status = export_to(source, args)
    finally:
        written = [(args.output, final), (weights_beside(args.output), weights_beside(final))]
        dropped = False
        for staged, destination in written:
            if staged.is_file():
                if status == 0:
                    os.replace(staged, destination)
                else:
                    staged.unlink()
                    dropped = True
    if dropped:
        print(f"fanet-export: '{final}' left as it was (nothing is written when a check fails)",
              file=sys.stderr)
    return status


def partial_path(output: Path) -> Path:
    """Where the export is written until every check has passed (then renamed to ``output``,
    so a failed export never replaces a working model)."""
    return output.with_name(f".{output.stem}.partial{output.suffix}")


def export_to(source: Path, args: argparse.Namespace) -> int:
    """The export (float, or float then INT8 with ``--quantize``) to ``args.output``."""
    if args.quantize:
        with tempfile.TemporaryDirectory() as tmp:
            output, args.output = args.output, Path(tmp) / "float.onnx"
            status = main_float(source, args)
            args.output, float_model = output, args.output
            if weights_beside(float_model).is_file():  # --save-weights: beside the output
                output.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(weights_beside(float_model), weights_beside(output))
            return status or quantize_output(float_model, output, args)
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
    print(f"quantised {args.final_output} (INT8 QDQ, calibrated on "
          f"{result.calibration_frames} images of {args.calibration_dir})")
    print(f"INT8 vs float model: labels identical on {100 * result.label_agreement:.2f}% of "
          "pixels of calibration images; measure the val mIoU before deploying it "
          "(bench/ort_tuning.py --camvid)")
    return 0


def main_float(source: Path, args: argparse.Namespace) -> int:
    """Export (or cut) the float model to ``args.output``; 0 when every check passed."""
    if source.suffix == ".onnx":
        return convert_onnx(source, args)
    config, extra = {}, {}
    run_dir = source if source.is_dir() else source.parent
    try:
        if source.is_dir() or (run_dir / run_state.CONFIG).is_file():  # a run folder's file
            config = run_state.read_json(run_dir / run_state.CONFIG)  # too: model, size, pixels
            source = source / run_state.BEST if source.is_dir() else source
            if source.name == run_state.BEST and (run_dir / run_state.STATE).is_file():
                extra = run_provenance(run_dir)
    except ValueError as exc:
        print(f"fanet-export: error: {exc}", file=sys.stderr)
        return 2
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
                        args.save_weights,
                        run_state.run_label_set(run_dir, layout) if config else None)
    except ValueError as exc:
        print(f"fanet-export: error: {exc}", file=sys.stderr)
        return 2
    args.head = result.head
    print(f"exported {args.final_output} ({model_name}, {layout}, "
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
    metadata = onnx_metadata(source)
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
    print(f"converted {args.final_output} ({source}: {', '.join(d for d in done if d)}; "
          "opset kept)")
    for change in result.size_changes:
        print(f"  {change}")
    failed = report_ops(result, args.allow_unsupported_ops)
    ok = result.label_agreement >= LABEL_AGREEMENT
    print(f"new vs old model: labels identical on {100 * result.label_agreement:.4f}% of "
          f"pixels over random inputs and synthetic frames ({'ok' if ok else 'TOO FEW'})")
    return 1 if failed or not ok else 0


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
