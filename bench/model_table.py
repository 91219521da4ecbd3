"""Model table: the network and the labels head timed apart, against the CPU's peak.

Four tables, all on ONNX Runtime (CPU) in one run:

1. Network: every registry model exported with the stride-8 logits head (random weights:
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

    nice -n 10 python bench/model_table.py --camvid /data/camvid --peer-onnx fast_scnn.onnx
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    CACHE_DIR,
    format_size,
    machine_info,
    markdown_table,
    median_ms,
    parse_size,
    write_results,
)
from exported_models import exported_model  # noqa: E402
from macs import count_macs, onnx_macs  # noqa: E402

from fanet_ros.image_conversion import DecodedImage  # noqa: E402
from fanet_ros.label_upsampling import ClassArgmax, LogitsUpsampler  # noqa: E402
from fanet_ros.model_metadata import attach_metadata, metadata_of_proto  # noqa: E402
from fanet_ros.onnx_labels import argmax_labels  # noqa: E402
from fanet_ros.preprocessing import resize_labels  # noqa: E402
from fanet_ros.runtime.onnxruntime_backend import (  # noqa: E402
    OnnxRuntimeBackend,
    session_options,
)
from fanet_ros.segmentation_pipeline import SegmentationPipeline  # noqa: E402
from fanet_ros.shipped_models import shipped_model_path  # noqa: E402

FMA_UNITS = 2
FP32_LANES = 8  # AVX2: 256-bit registers


def cpu_peak_gmacs(cores: int) -> tuple[float, str]:
    """Peak fp32 GMAC/s (one FMA = one MAC) and the assumption behind it."""
    text = Path("/proc/cpuinfo").read_text()
    clocks = [float(m) for m in re.findall(r"cpu MHz\s*:\s*([\d.]+)", text)]
    ghz = max(clocks) / 1000.0 if clocks else float("nan")
    peak = cores * FMA_UNITS * FP32_LANES * ghz
    note = (f"peak = {cores} cores x {FMA_UNITS} FMA units x {FP32_LANES} fp32 lanes (AVX2) x "
            f"{ghz:.2f} GHz (cpu MHz in /proc/cpuinfo, no boost assumed) = {peak:.1f} GMAC/s "
            f"({2 * peak:.1f} GFLOP/s)")
    return peak, note


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
    from fanet_training.models import MODELS, build_model

    classes = label_set_for_layout("camvid").num_classes
    batch = np.random.default_rng(0).random((1, *args.size, 3), dtype=np.float32)
    rows = []
    for name in args.models or sorted(MODELS):
        try:
            exported = exported_model(name, args.size, "camvid", head="logits")
        except ValueError as exc:  # classifier not at stride 8: bench/model_comparison.py
            print(f"network {name}: skipped ({exc})", flush=True)
            continue
        model = build_model(name, classes, (*args.size, 3), output="low_res_logits")
        params, gmacs = model.count_params(), count_macs(model) / 1e9
        del model
        backend = OnnxRuntimeBackend(exported)
        ms = median_ms(lambda b=backend: b.infer(batch), args.iterations)
        rows.append({"model": name, "parameters": params, "gmacs": gmacs, "ms": ms,
                     "output": "logits at stride 8"})
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
        pipeline.times.take()
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
        "identical_at_model_resolution": identical / total,
        "heads": [{"head": n, "miou": matrices[n].scores().mean_iou} for n in names],
        "confidence_error_levels": {"mean": float(errors.mean()),
                                    "p99": float(np.percentile(errors, 99)),
                                    "max": int(errors.max())},
    }


def _confidence_error(upsampler: LogitsUpsampler, found: Any, logits: np.ndarray,
                      size: tuple[int, int]) -> np.ndarray:
    """|~/confidence - exact full-resolution softmax|, in levels of 255, per pixel."""
    scores = cv2.resize(logits, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    scores = scores.reshape(*size, -1)
    exp = np.exp(scores - scores.max(-1, keepdims=True))
    exact = np.rint(255.0 / exp.sum(-1))
    return np.abs(upsampler.confidence(found).astype(np.float64) - exact).ravel()


def report(data: dict[str, Any]) -> str:
    parts = [f"Network at {data['size']} (ONNX Runtime CPU, median of {data['iterations']}; "
             f"{data['peak_note']})", markdown_table(
        ["model", "parameters", "GMACs", "output", "ms", "GMAC/s", "share of peak"],
        [[r["model"], f"{r['parameters']:,}", r["gmacs"], r["output"], r["ms"],
          r["gmac_per_s"], f"{100 * r['share_of_peak']:.1f}%"] for r in data["network"]])]
    if data.get("peer_skipped"):
        parts.append(f"Peer row skipped: {data['peer_skipped']}")
    heads = data["heads"]
    parts += [f"Labels head of {heads['model']} for a {heads['camera']} camera, {heads['frames']} "
              f"frames; boundary pixels (computed from interpolated logits): "
              f"{100 * heads['boundary_share']:.1f}%", markdown_table(
                  ["head", "ms", "labels equal to Resize + ArgMax at camera resolution"],
                  [[v["head"], v["ms"], f"{100 * v['agreement_with_camera_resize']:.4f}%"]
                   for v in heads["variants"]])]
    rows = data["pipeline"]
    base = rows[0]["frame_ms"]
    parts += [f"The node's pipeline, labels at {heads['camera']} (model {data['size']}), "
              "median ms per frame", markdown_table(
                  ["pipeline", "preprocess", "inference", "postprocess", "frame", "speed-up"],
                  [[r["pipeline"], r.get("preprocess"), r.get("inference"),
                    r.get("postprocess"), r["frame_ms"], f"{base / r['frame_ms']:.2f}x"]
                   for r in rows])]
    default = next(r for r in rows if "(node default)" in r["pipeline"])
    fanet, inference = default["frame_ms"], default.get("inference")
    checks = [f"- The node's pipeline with the logits head: {base / fanet:.2f}x the old --labels "
              f"model's frame rate (target >= 2x: {'met' if base / fanet >= 2 else 'not met'})."]
    fanet_net = next((r for r in data["network"] if r["model"] == "fanet"), None)
    if fanet_net and inference:
        floor = 1000.0 * fanet_net["gmacs"] / data["peak_gmac_per_s"]
        checks.append(f"- Bound: with preprocessing and the head free, the network's inference "
                      f"alone ({inference:.1f} ms) allows {base / inference:.2f}x; FANet's "
                      f"{fanet_net['gmacs']:.2f} GMACs at 100% of the peak would take "
                      f"{floor:.1f} ms, {floor / inference:.2f} of that.")
    peer = [r["frame_ms"] for r in rows if r["pipeline"].startswith("peer:")]
    if peer:
        checks.append(f"- FANet's whole pipeline against the peer's: {peer[0] / fanet:.2f}x "
                      f"faster (target >= 2x: {'met' if peer[0] / fanet >= 2 else 'not met'}).")
    load = data.get("load_average_at_start")
    if load:
        checks.append(f"- Load average at the start {load[0]} on {data.get('cores', 2)} cores "
                      "(other jobs may share this CPU): compare ratios within this run only.")
    parts.append("\n".join(checks))
    camvid = data.get("camvid")
    if camvid:
        err = camvid["confidence_error_levels"]
        parts += [f"CamVid val ({camvid['frames']} frames), shipped model at "
                  f"{camvid['model_size']}, scored at the annotations' 360x480; labels of the "
                  f"exact refinement and of Resize + ArgMax at {camvid['model_size']} identical "
                  f"on {100 * camvid['identical_at_model_resolution']:.4f}% of pixels",
                  markdown_table(["head", "val mIoU"],
                                 [[h["head"], f"{100 * h['miou']:.2f}%"]
                                  for h in camvid["heads"]]),
                  f"~/confidence against the exact full-resolution softmax (255 levels): mean "
                  f"{err['mean']:.2f}, p99 {err['p99']:.0f}, max {err['max']}"]
    return "\n\n".join(parts)


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
    peak, note = cpu_peak_gmacs(info["cores"])
    frames = camera_frames(args, args.frames)
    data: dict[str, Any] = {
        "benchmark": "model_table",
        "command": " ".join(["python bench/model_table.py", *(argv or sys.argv[1:])]),
        "size": format_size(args.size), "iterations": args.iterations,
        "peak_gmac_per_s": peak, "peak_note": note,
        "load_average_at_start": info["load_average_1_5_15"],
        "network": network_rows(args, peak),
        "heads": head_rows(args, frames),
        "pipeline": pipeline_rows(args, frames),
    }
    if not args.peer_onnx:
        data["peer_skipped"] = _peer_reason()
    if args.camvid:
        data["camvid"] = camvid_rows(args)
    data["markdown"] = report(data)
    print(data["markdown"])
    print(f"wrote {write_results(args.name, data, args.results_dir)}")
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
