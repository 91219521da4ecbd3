"""Model table: the network and the labels head timed apart, against the CPU's peak.

Four tables, all on ONNX Runtime (CPU) in one run:

1. Network: every registry model exported with the head ``fanet-export`` gives it (stride-8
   logits, or probabilities at the input for a classifier at another stride; random weights:
   speed does not depend on them) at ``--size``; parameters, GMACs (bench/macs.py),
   median ms, GMAC/s achieved and its share of this CPU's peak. A peer model
   (``--peer-onnx``, e.g. Fast-SCNN exported from its PyTorch code) gets a row too: its
   graph already ends in a full-resolution bilinear resize of its logits.
2. Heads: the shipped CamVid model (trained weights, so realistic class boundaries; its
   fixed input set to ``--size``) on frames upscaled to ``--camera``: labels at camera
   resolution from its logits by full-resolution Resize + ArgMax (the old ``--labels``
   graph, then nearest to the camera), Resize + ArgMax at camera resolution, the exact
   boundary refinement (fanet_ros.label_upsampling), and nearest from stride 8.
3. The node's pipeline (preprocess, inference, labels at camera resolution): the old
   ``--labels`` model against the logits model + refinement, and the peer + ArgMax.
4. CamVid val mIoU of the shipped model per head (``--camvid``), and the ~/confidence
   error against the exact full-resolution softmax.

    nice -n 10 python -m bench.model_table --camvid /data/camvid --peer-onnx fast_scnn.onnx
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from bench.common import (
    CACHE_DIR,
    format_size,
    machine_info,
    median_ms,
    module_command,
    parse_size,
    write_and_show,
)
from bench.exported_models import exported_model
from bench.macs import count_macs, onnx_macs
from bench.render_performance import model_table as render
from fanet_ros.image_conversion import DecodedImage
from fanet_ros.label_upsampling import ClassArgmax, LogitsUpsampler
from fanet_ros.model_metadata import attach_metadata, metadata_of_proto
from fanet_ros.onnx.heads import argmax_labels
from fanet_ros.preprocessing import resize_labels, upsampled_probabilities
from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend, session_options
from fanet_ros.segmentation_pipeline import SegmentationPipeline, StageTimes
from fanet_ros.shipped_models import shipped_model_path

UNITS = {"*_ms, ms, frame_ms": "milliseconds (median)",
         "preprocess, inference, postprocess": "milliseconds per frame (mean over the frames)",
         "gmacs": "10^9 multiply-accumulates (convolutions and dense layers)",
         "gmac_per_s": "10^9 multiply-accumulates per second", "ghz": "GHz (cpu MHz in "
         "/proc/cpuinfo)", "share_of_peak, boundary_share, agreement_with_camera_resize, "
         "identical_at_model_resolution, miou": "fraction of 1",
         "confidence_error_levels": "levels of 255",
         "load_average_at_start": "1-, 5- and 15-minute load averages"}
FMA_UNITS = 2


def simd_width(cpuinfo: str) -> tuple[int, str]:
    """fp32 lanes of one FMA pipe and the instruction set: 16 (AVX-512) on an Intel CPU that
    has it, whose server cores have two 512-bit FMA pipes; 8 (AVX2) otherwise, AMD's AVX-512
    (Zen 4) included, which splits each 512-bit FMA over 256-bit pipes."""
    match = re.search(r"^flags\s*:(.*)$", cpuinfo, re.M)
    flags = set(match.group(1).split()) if match else set()
    if "avx512f" in flags and "GenuineIntel" in cpuinfo:
        return 16, "AVX-512"
    return 8, "AVX2"


def cpu_peak(cores: int, cpuinfo: str | None = None) -> dict[str, Any]:
    """Nominal peak fp32 multiply-accumulates per second (one FMA = one MAC), and what it
    assumes: two FMA pipes per core, :func:`simd_width` lanes each, at the largest ``cpu MHz``
    in /proc/cpuinfo. A virtual machine reports its base clock there, not the boost its cores
    may run at, so a measured share can exceed 100 %."""
    text = Path("/proc/cpuinfo").read_text() if cpuinfo is None else cpuinfo
    clocks = [float(m) for m in re.findall(r"cpu MHz\s*:\s*([\d.]+)", text)]
    ghz = max(clocks) / 1000.0 if clocks else float("nan")
    lanes, isa = simd_width(text)
    return {"cores": cores, "fma_units": FMA_UNITS, "fp32_lanes": lanes, "isa": isa,
            "ghz": ghz, "gmac_per_s": cores * FMA_UNITS * lanes * ghz}


def session(path_or_bytes: str | bytes, threads: int = 0) -> ort.InferenceSession:
    """An ONNX Runtime CPU session with the node's settings."""
    return ort.InferenceSession(path_or_bytes, session_options(num_threads=threads),
                                providers=["CPUExecutionProvider"])


def resize_argmax_head(layout: str = "NHWC") -> ort.InferenceSession:
    """Logits -> Resize (linear, half_pixel) to ``sizes`` -> ArgMax -> uint8: the old head."""
    nodes = []
    source = "logits"
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", ["logits"], ["nchw"], perm=[0, 3, 1, 2]))
        source = "nchw"
    nodes += [
        helper.make_node("Resize", [source, "", "", "sizes"], ["up"], mode="linear",
                         coordinate_transformation_mode="half_pixel"),
        *argmax_labels("up", "labels", axis=1),
    ]
    graph = helper.make_graph(
        nodes, "resize_argmax",
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, "a", "b", "c"]),
         helper.make_tensor_value_info("sizes", TensorProto.INT64, [4])],
        [helper.make_tensor_value_info("labels", TensorProto.UINT8, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return session(model.SerializeToString())


def argmax_nchw() -> ort.InferenceSession:
    """``[1, C, H, W]`` scores -> ``[1, H, W]`` uint8 arg-max (the peer's output layout)."""
    graph = helper.make_graph(
        argmax_labels("scores", "labels", axis=1),
        "argmax_nchw",
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, "c", "h", "w"])],
        [helper.make_tensor_value_info("labels", TensorProto.UINT8, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return session(model.SerializeToString(), threads=1)


def at_input_size(source: Path, size: tuple[int, int], name: str) -> Path:
    """The shipped (fixed-size) model with its input set to ``size`` (cached by content, not
    in the repo).

    Its graph runs at sides that are multiples of 64 (its pyramid's shapes must line up).
    """
    digest = hashlib.sha1(source.read_bytes()).hexdigest()[:10]  # a new model, a new file
    path = CACHE_DIR / f"{source.stem}_{digest}_{name}_{size[0]}x{size[1]}.onnx"
    if path.is_file():
        return path
    proto = onnx.load(str(source))
    proto.graph.input[0].type.tensor_type.shape.dim[1].dim_value = size[0]
    proto.graph.input[0].type.tensor_type.shape.dim[2].dim_value = size[1]
    for dim in proto.graph.output[0].type.tensor_type.shape.dim[1:]:
        dim.Clear()
    del proto.graph.value_info[:]
    metadata = metadata_of_proto(proto, source)
    attach_metadata(proto, dataclasses.replace(metadata, input_height=size[0],
                                               input_width=size[1]))
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))
    return path


def labels_model_from(logits_model: Path, size: tuple[int, int]) -> Path:
    """The old ``--labels`` graph of a logits model: its logits, Resize to the input size,
    ArgMax, Cast (what the shipped models were before they were cut to logits)."""
    proto = onnx.load(str(logits_model))
    graph = proto.graph
    metadata = metadata_of_proto(proto, logits_model)
    sizes = np.array([1, metadata.num_classes, *size], np.int64)
    graph.initializer.append(onnx.numpy_helper.from_array(sizes, "label_sizes"))
    graph.node.extend([
        helper.make_node("Transpose", [graph.output[0].name], ["logits_nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Resize", ["logits_nchw", "", "", "label_sizes"], ["up"], mode="linear",
                         coordinate_transformation_mode="half_pixel"),
        *argmax_labels("up", "labels", axis=1),
    ])
    graph.output.remove(graph.output[0])
    graph.output.append(helper.make_tensor_value_info("labels", TensorProto.UINT8, None))
    attach_metadata(proto, dataclasses.replace(metadata, output="labels"))
    path = logits_model.with_name(logits_model.stem + "_labels.onnx")
    onnx.save(proto, str(path))
    return path


def camera_frames(args: argparse.Namespace, count: int) -> list[np.ndarray]:
    """bgr8 frames at camera size: CamVid val images upscaled, else synthetic drive frames."""
    height, width = args.camera
    if args.camvid:
        from fanet_ros.dataset_layouts import find_samples, read_image

        samples = find_samples(args.camvid, "camvid", "val")[:count]
        rgb = [read_image(s.image_path) for s in samples]
    else:
        from fanet_ros.synthetic import generate_drive

        rgb = [frame for frame, _ in generate_drive(0, count, height=360, width=480)]
    return [cv2.cvtColor(cv2.resize(f, (width, height), interpolation=cv2.INTER_LINEAR),
                         cv2.COLOR_RGB2BGR) for f in rgb]


def network_rows(args: argparse.Namespace, peak: float) -> list[dict[str, Any]]:
    from fanet_ros.dataset_layouts import label_set_for_layout
    from fanet_training.export import choose_head
    from fanet_training.models import MODELS, build_model

    classes = label_set_for_layout("camvid").num_classes
    batch = np.random.default_rng(0).random((1, *args.size, 3), dtype=np.float32)
    rows = []
    for name in args.models or sorted(MODELS):
        model = build_model(name, classes, (*args.size, 3), output="low_res_logits")
        params, gmacs = model.count_params(), count_macs(model) / 1e9
        stride = args.size[0] // model.output_shape[1]
        del model
        head = choose_head(name, stride, None)  # the head fanet-export gives it by default
        backend = OnnxRuntimeBackend(exported_model(name, args.size, "camvid", head=head))
        ms = median_ms(lambda b=backend: b.infer(batch), args.iterations)
        output = (f"logits at stride {stride}" if head == "logits" else
                  f"probabilities at the input (classifier at stride {stride})")
        rows.append({"model": name, "parameters": params, "gmacs": gmacs, "ms": ms,
                     "output": output})
        print(f"network {name}: {ms:.1f} ms", flush=True)
    if args.peer_onnx:
        peer = session(str(args.peer_onnx))
        shape = peer.get_inputs()[0].shape
        nchw = shape[1] == 3
        peer_batch = np.ascontiguousarray(batch.transpose(0, 3, 1, 2)) if nchw else batch
        name = peer.get_inputs()[0].name
        ms = median_ms(lambda: peer.run(None, {name: peer_batch}), args.iterations)
        rows.append({"model": f"peer: {args.peer_name}", "parameters": _onnx_params(args.peer_onnx),
                     "gmacs": onnx_macs(str(args.peer_onnx)) / 1e9, "ms": ms,
                     "output": "logits bilinearly resized to the input (in its graph)"})
        print(f"network peer: {ms:.1f} ms", flush=True)
    for row in rows:
        row["gmac_per_s"] = row["gmacs"] / (row["ms"] / 1000.0)
        row["share_of_peak"] = row["gmac_per_s"] / peak
    return rows


def _onnx_params(path: Path) -> int:
    return int(sum(np.prod(t.dims) for t in onnx.load(str(path)).graph.initializer))


def head_rows(args: argparse.Namespace, frames: list[np.ndarray]) -> dict[str, Any]:
    """Head variants on the shipped model's logits at ``--size`` for ``--camera`` labels."""
    model = at_input_size(shipped_model_path(), args.size, "logits")
    backend = OnnxRuntimeBackend(model)
    pipeline = SegmentationPipeline(backend)
    camera = args.camera
    head = resize_argmax_head()
    upsampler = LogitsUpsampler()
    argmax = ClassArgmax()

    def resize_argmax(logits: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        sizes = np.array([1, logits.shape[-1], *size], np.int64)
        return head.run(None, {"logits": logits, "sizes": sizes})[0][0]

    variants: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        f"Resize + ArgMax at {format_size(args.size)} (old --labels graph), nearest to camera":
            lambda lg: resize_labels(resize_argmax(lg, args.size), *camera),
        f"Resize + ArgMax at camera resolution {format_size(camera)}":
            lambda lg: resize_argmax(lg, camera),
        "exact boundary refinement at camera resolution (node default)":
            lambda lg: upsampler.labels(lg[0], camera),
        "nearest from stride 8":
            lambda lg: resize_labels(argmax(lg), *camera),
    }
    reference_key = list(variants)[1]
    times = {k: [] for k in variants}
    agreement = {k: [] for k in variants}
    boundary = []
    for frame in frames:
        batch, _ = pipeline.preprocess(DecodedImage(frame, "bgr8"))
        logits = np.array(backend.infer(batch))
        reference = variants[reference_key](logits).copy()
        for key, fn in variants.items():
            times[key].append(median_ms(lambda f=fn, lg=logits: f(lg), args.iterations))
            agreement[key].append(float((fn(logits) == reference).mean()))
        found = upsampler.refine(logits[0], camera)
        boundary.append(found.boundary_pixels / found.labels.size)
    return {
        "model": f"{shipped_model_path().name} (input set to {format_size(args.size)})",
        "camera": format_size(camera), "frames": len(frames),
        "boundary_share": float(np.mean(boundary)),
        "variants": [{"head": k, "ms": float(np.median(times[k])),
                      "agreement_with_camera_resize": float(np.mean(agreement[k]))}
                     for k in variants],
    }


def pipeline_rows(args: argparse.Namespace, frames: list[np.ndarray]) -> list[dict[str, Any]]:
    """Whole frames through SegmentationPipeline (labels only, at camera resolution).

    The variants take turns frame by frame, so a change in the machine's load hits all.
    """
    logits_model = at_input_size(shipped_model_path(), args.size, "logits")
    pipelines = {
        "old --labels model (Resize + ArgMax in the graph), nearest to camera":
            SegmentationPipeline(OnnxRuntimeBackend(labels_model_from(logits_model, args.size))),
        "logits model + exact refinement at camera resolution (node default)":
            SegmentationPipeline(OnnxRuntimeBackend(logits_model)),
    }
    runs: dict[str, Callable[[DecodedImage], Any]] = {
        name: (lambda im, p=p: p.process(im, want_color=False, want_overlay=False))
        for name, p in pipelines.items()}
    if args.peer_onnx:
        runs[f"peer: {args.peer_name} + ArgMax, nearest to camera"] = _peer_frame(args)
    images = [DecodedImage(f, "bgr8") for f in frames]
    for run in runs.values():
        run(images[0])  # warm-up
    for pipeline in pipelines.values():
        pipeline.times = StageTimes()  # the warm-up's stages out (take() keeps an unfinished
        # frame's, and process() alone never finishes one)
    frame_ms: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.iterations):
        for image in images:
            for name, run in runs.items():
                frame_ms[name].append(median_ms(lambda r=run, im=image: r(im), 1, warmup=0))
    rows = []
    for name in runs:
        stages: dict[str, float] = {}
        if name in pipelines:
            pipelines[name].times.frames = len(frame_ms[name])
            stages, _ = pipelines[name].times.take()
        rows.append({"pipeline": name, "frame_ms": float(np.median(frame_ms[name])), **stages})
        print(f"pipeline {name}: {rows[-1]['frame_ms']:.1f} ms", flush=True)
    return rows


def _peer_frame(args: argparse.Namespace) -> Callable[[DecodedImage], np.ndarray]:
    """The peer with the same preprocessing, its graph's full-resolution logits, an ONNX
    Runtime ArgMax, and nearest to the camera."""
    peer = session(str(args.peer_onnx))
    name = peer.get_inputs()[0].name
    nchw = peer.get_inputs()[0].shape[1] == 3
    argmax = argmax_nchw()
    reference = SegmentationPipeline(OnnxRuntimeBackend(
        at_input_size(shipped_model_path(), args.size, "logits")))

    def frame(image: DecodedImage) -> np.ndarray:
        batch, _ = reference.preprocess(image)
        batch = np.ascontiguousarray(batch.transpose(0, 3, 1, 2)) if nchw else batch
        scores = peer.run(None, {name: batch})[0]
        scores = scores if nchw else np.ascontiguousarray(scores.transpose(0, 3, 1, 2))
        return resize_labels(argmax.run(None, {"scores": scores})[0][0], *args.camera)

    return frame


def camvid_rows(args: argparse.Namespace) -> dict[str, Any]:
    """Val mIoU of the shipped model per head, scored at the annotations' resolution."""
    from fanet_ros.dataset_layouts import find_samples, read_image, read_label
    from fanet_ros.metrics import ConfusionMatrix

    backend = OnnxRuntimeBackend(shipped_model_path())
    pipeline = SegmentationPipeline(backend)
    head, upsampler, argmax = resize_argmax_head(), LogitsUpsampler(), ClassArgmax()
    size = (backend.input_height, backend.input_width)
    classes = backend.metadata.num_classes
    names = ["Resize + ArgMax at model resolution, nearest to the annotation (old --labels)",
             "exact refinement at model resolution, nearest to the annotation",
             "exact refinement at the annotation's resolution (node default)",
             "Resize + ArgMax at the annotation's resolution",
             "nearest from stride 8"]
    matrices = {n: ConfusionMatrix(classes) for n in names}
    identical = total = 0
    confidence_error: list[np.ndarray] = []
    samples = find_samples(args.camvid, "camvid", "val")
    for sample in samples[: args.val_frames or None]:
        rgb = read_image(sample.image_path)
        truth = read_label(sample.label_path, "camvid")
        batch, _ = pipeline.preprocess(DecodedImage(rgb, "rgb8"))
        logits = np.array(backend.infer(batch))
        full = truth.shape

        def resize_argmax(out_size: tuple[int, int], lg: np.ndarray = logits) -> np.ndarray:
            sizes = np.array([1, classes, *out_size], np.int64)
            return head.run(None, {"logits": lg, "sizes": sizes})[0][0]

        old = resize_argmax(size)
        refined = upsampler.labels(logits[0], size).copy()
        identical += int((old == refined).sum())
        total += old.size
        found = upsampler.refine(logits[0], full)
        predictions = [resize_labels(old, *full), resize_labels(refined, *full),
                       found.labels, resize_argmax(full), resize_labels(argmax(logits), *full)]
        for n, p in zip(names, predictions):
            matrices[n].update(truth, p)
        confidence_error.append(_confidence_error(upsampler, found, logits[0], full))
    errors = np.concatenate(confidence_error)
    return {
        "frames": len(samples[: args.val_frames or None]),
        "model_size": format_size(size),
        "scored_at": format_size(full),
        "identical_at_model_resolution": identical / total,
        "heads": [{"head": n, "miou": matrices[n].scores().mean_iou} for n in names],
        "confidence_error_levels": {"mean": float(errors.mean()),
                                    "p99": float(np.percentile(errors, 99)),
                                    "max": int(errors.max())},
    }


def _confidence_error(upsampler: LogitsUpsampler, found: Any, logits: np.ndarray,
                      size: tuple[int, int]) -> np.ndarray:
    """|~/confidence - exact full-resolution softmax|, in levels of 255, per pixel."""
    exact = np.rint(255.0 * upsampled_probabilities(logits, *size).max(axis=-1))
    return np.abs(upsampler.confidence(found).astype(np.float64) - exact).ravel()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", help="registry names (default: all)")
    parser.add_argument("--size", default="512x1024", help="model input, HxW")
    parser.add_argument("--camera", default="1024x2048", help="camera (label output) size")
    parser.add_argument("--iterations", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--frames", type=int, default=4, help="camera frames for heads/pipeline")
    parser.add_argument("--camvid", type=Path, help="CamVid root (val/, valannot/) for mIoU")
    parser.add_argument("--val-frames", type=int, default=0, help="val frames (0: all)")
    parser.add_argument("--peer-onnx", type=Path, help="a peer model's ONNX (fixed --size input)")
    parser.add_argument("--peer-name", default="Fast-SCNN (Tramac PyTorch, torch.onnx dynamo)")
    parser.add_argument("--name", default="model_table", help="results file name")
    parser.add_argument("--results-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    args.size, args.camera = parse_size(args.size), parse_size(args.camera)

    info = machine_info()
    peak = cpu_peak(info["cores"])
    frames = camera_frames(args, args.frames)
    data: dict[str, Any] = {
        "benchmark": "model_table",
        "command": module_command("bench.model_table", argv),
        "size": format_size(args.size), "iterations": args.iterations, "peak": peak,
        "load_average_at_start": info["load_average_1_5_15"],
        "network": network_rows(args, peak["gmac_per_s"]),
        "heads": head_rows(args, frames),
        "pipeline": pipeline_rows(args, frames),
    }
    if not args.peer_onnx:
        data["peer_skipped"] = _peer_reason()
    if args.camvid:
        data["camvid"] = camvid_rows(args)
    write_and_show(args.name, data, args.results_dir, UNITS, render)
    return data


def _peer_reason() -> str:
    try:
        import torch  # noqa: F401
    except ImportError:
        return ("torch is not importable in this environment, so Fast-SCNN cannot be exported "
                "here; export it elsewhere and pass --peer-onnx")
    return "no --peer-onnx given"


if __name__ == "__main__":
    main()
