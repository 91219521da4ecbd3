"""ONNX Runtime settings, each timed against the node's default in one run.

On the shipped CamVid model (logits head, its input set to ``--size``), with
the node's session settings (fanet_ros.runtime.onnxruntime_backend.session_options)
as the reference, one setting changed per variant:

* graph optimisation level: disabled, basic, extended (the node: all);
* intra-op threads: 1 and 2 (the node: 0 = ONNX Runtime's default);
* ``session.intra_op.allow_spinning`` on (the node: off);
* the graph with each convolution's BatchNorm scale/shift folded into it
  (fanet_ros.onnx.folding.fold_conv_affine), at the node's level and with
  optimisation disabled (where ONNX Runtime does not fold them itself);
* static INT8 (QDQ) quantisation (fanet_training.quantize), calibrated on
  ``--calibration-dir`` images through the node's preprocessing, with and
  without the fold before it.

Variants alternate: each round runs every variant (one discarded run, then
``--runs`` timed), starting one place later each round so that every variant
takes every place, and a change of load hits all of them; the ratio to the
default is the median over rounds of the round's ratio; the default runs a
second time in each round, so its ratio shows the run's noise (the renderer
counts ratios within it as no difference). With
``--camvid``, the val mIoU of the float, folded and INT8 models is measured too
(model resolution 384x512, labels at the annotations' resolution by the node's
exact refinement).

    nice -n 10 python -m bench.ort_tuning --camvid /data/camvid
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from bench.common import (
    CACHE_DIR,
    format_size,
    machine_info,
    module_command,
    parse_size,
    write_and_show,
)
from bench.model_table import at_input_size
from bench.render_performance import ort_tuning as render
from fanet_ros.runtime.onnxruntime_backend import session_options
from fanet_ros.shipped_models import shipped_model_path

UNITS = {"*_ms": "milliseconds (median)",
         "ratio_to_default": "median over rounds of (time / the default's time)",
         "same_within": "a ratio within 1 +- this reads as no difference",
         "miou, labels_equal_to_float": "fraction of 1",
         "load_average_at_start": "1-, 5- and 15-minute load averages"}
SETTLE_S = 0.2
"""Pause after each variant's runs: threads that spin after a run (allow_spinning) stop
before the next variant is timed."""
SAME_WITHIN = 0.05
"""A ratio within 1 +- this is reported as no difference."""


@dataclass(frozen=True)
class Variant:
    name: str
    model: str
    """``float``, ``folded`` or ``int8``."""
    options: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of ``session_options`` that differ from the node's."""


VARIANTS = (
    Variant("node default (optimisation all, threads 0, no spinning)", "float"),
    Variant("optimisation disabled", "float", {"optimization_level": "disabled"}),
    Variant("optimisation basic", "float", {"optimization_level": "basic"}),
    Variant("optimisation extended", "float", {"optimization_level": "extended"}),
    Variant("intra-op threads 1", "float", {"num_threads": 1}),
    Variant("intra-op threads 2", "float", {"num_threads": 2}),
    Variant("idle threads spinning", "float", {"allow_spinning": True}),
    Variant("BatchNorm folded in the export", "folded"),
    Variant("BatchNorm folded, optimisation disabled", "folded",
            {"optimization_level": "disabled"}),
    Variant("INT8 QDQ", "int8"),
    Variant("INT8 QDQ without the BatchNorm fold", "int8_unfolded"),
    Variant("node default again (noise control)", "float"),
)


def prepare_models(source: Path, calibration_dir: Path | None, calibration_frames: int,
                   work_dir: Path) -> dict[str, Path]:
    """The float model, its folded copy and (with calibration images) its INT8 copy."""
    from fanet_ros.onnx.folding import fold_conv_affine

    work_dir.mkdir(parents=True, exist_ok=True)
    models = {"float": source}
    proto = onnx.load(str(source))
    fold_conv_affine(proto)
    models["folded"] = work_dir / f"{source.stem}_folded.onnx"
    onnx.save(proto, str(models["folded"]))
    if calibration_dir is not None:
        from fanet_training.quantize import quantize_int8

        for name, fold in (("int8", True), ("int8_unfolded", False)):
            models[name] = work_dir / f"{source.stem}_{name}.onnx"
            result = quantize_int8(source, models[name], calibration_dir, calibration_frames,
                                   fold=fold)
            print(f"{name}: labels equal to the float model's on "
                  f"{100 * result.label_agreement:.2f}% of pixels "
                  f"({result.calibration_frames} calibration images)", flush=True)
    return models


def resized(model: Path, size: tuple[int, int]) -> Path:
    """``model`` with its fixed input set to ``size`` (cached by content)."""
    return at_input_size(model, size, "tuning")


def time_variants(models: dict[str, Path], size: tuple[int, int], rounds: int,
                  runs: int) -> list[dict[str, Any]]:
    """Median ms per variant and the median over rounds of its ratio to the first variant."""
    variants = [v for v in VARIANTS if v.model in models]
    sessions, load_ms, nodes = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i, variant in enumerate(variants):
            options = session_options(**variant.options)
            optimized = Path(tmp) / f"{i}.onnx"
            options.optimized_model_filepath = str(optimized)
            start = time.perf_counter()
            sessions.append(ort.InferenceSession(
                str(resized(models[variant.model], size)), options,
                providers=["CPUExecutionProvider"]))
            load_ms.append(1000.0 * (time.perf_counter() - start))
            nodes.append(len(onnx.load(str(optimized)).graph.node))
    batch = np.random.default_rng(0).random((1, *size, 3), dtype=np.float32)
    times: list[list[float]] = [[] for _ in variants]
    ratios: list[list[float]] = [[] for _ in variants]
    for round_index in range(rounds):
        medians = [0.0] * len(sessions)
        start_at = round_index % len(sessions)  # each variant takes every place in turn, so
        for i in [*range(start_at, len(sessions)), *range(start_at)]:  # none gains by its place
            session = sessions[i]
            feed = {session.get_inputs()[0].name: batch}
            session.run(None, feed)  # after another variant: its caches and threads settle
            these = []
            for _ in range(runs):
                start = time.perf_counter()
                session.run(None, feed)
                these.append(1000.0 * (time.perf_counter() - start))
            times[i] += these
            medians[i] = statistics.median(these)
            time.sleep(SETTLE_S)
        for i, m in enumerate(medians):
            ratios[i].append(m / medians[0])
    return [{"variant": v.name, "model": v.model, "options": v.options,
             "median_ms": statistics.median(t), "ratio_to_default": statistics.median(r),
             "session_load_ms": load, "nodes_after_optimisation": n}
            for v, t, r, load, n in zip(variants, times, ratios, load_ms, nodes)]


def val_miou(models: dict[str, Path], camvid: Path, frames: int) -> list[dict[str, Any]]:
    """CamVid val mIoU per model at its own input size, labels at the annotations' size."""
    from fanet_ros.dataset_layouts import find_samples, read_image, read_label
    from fanet_ros.image_conversion import DecodedImage
    from fanet_ros.label_upsampling import LogitsUpsampler
    from fanet_ros.metrics import ConfusionMatrix
    from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
    from fanet_ros.segmentation_pipeline import SegmentationPipeline

    samples = find_samples(camvid, "camvid", "val")[: frames or None]
    pipelines = {name: SegmentationPipeline(OnnxRuntimeBackend(path))
                 for name, path in models.items() if name != "int8_unfolded"}
    upsampler = LogitsUpsampler()
    classes = next(iter(pipelines.values())).metadata.num_classes
    matrices = {name: ConfusionMatrix(classes) for name in pipelines}
    agree = dict.fromkeys(pipelines, 0)
    total = 0
    for sample in samples:
        truth = read_label(sample.label_path, "camvid")
        image = DecodedImage(read_image(sample.image_path), "rgb8")
        labels = {}
        for name, pipeline in pipelines.items():
            batch, _ = pipeline.preprocess(image)
            logits = np.array(pipeline.backend.infer(batch))
            labels[name] = upsampler.refine(logits[0], truth.shape).labels.copy()
            matrices[name].update(truth, labels[name])
        for name in pipelines:
            agree[name] += int(np.count_nonzero(labels[name] == labels["float"]))
        total += truth.size
    return [{"model": name, "frames": len(samples),
             "input": format_size(pipelines[name].model_size),
             "miou": matrices[name].scores().mean_iou, "labels_equal_to_float": agree[name] / total}
            for name in pipelines]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None,
                        help="float logits model (default: the shipped FANet CamVid model)")
    parser.add_argument("--size", default="512x1024", help="input HxW to time at")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per variant and round")
    parser.add_argument("--camvid", type=Path, help="CamVid root: val mIoU, and train/ "
                        "calibrates INT8 unless --calibration-dir is given")
    parser.add_argument("--calibration-dir", type=Path, help="images for INT8 calibration")
    parser.add_argument("--calibration-frames", type=int, default=100)
    parser.add_argument("--val-frames", type=int, default=0, help="val frames (0: all)")
    parser.add_argument("--name", default="ort_tuning", help="results file name")
    parser.add_argument("--results-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    size = parse_size(args.size)
    source = args.model or shipped_model_path()
    calibration = args.calibration_dir or (args.camvid / "train" if args.camvid else None)
    load_at_start = machine_info()["load_average_1_5_15"]
    models = prepare_models(source, calibration, args.calibration_frames,
                            CACHE_DIR / "ort_tuning")
    data: dict[str, Any] = {
        "benchmark": "ort_tuning",
        "command": module_command("bench.ort_tuning", argv),
        "onnxruntime": ort.__version__,
        "model": {"file": source.name, "shipped": args.model is None, "output": "logits"},
        "size": format_size(size), "rounds": args.rounds, "runs": args.runs,
        "same_within": SAME_WITHIN, "load_average_at_start": load_at_start,
        "calibration_frames": args.calibration_frames if calibration else None,
        "calibration_dir_name": calibration.name if calibration else None,
        "timing": time_variants(models, size, args.rounds, args.runs),
    }
    if args.camvid:
        data["camvid"] = val_miou(models, args.camvid, args.val_frames)
        data["camvid_scored_at"] = "360x480"  # the annotations' resolution
    write_and_show(args.name, data, args.results_dir, UNITS, render)
    return data


if __name__ == "__main__":
    main()
