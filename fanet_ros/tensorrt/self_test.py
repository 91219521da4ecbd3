"""``check_engine --full``: one command that shows TensorRT works on this machine, as one table.

1. environment: TensorRT, cuda-python and the GPUs;
2. and 3. an fp32 engine and one of ``--precision`` (fp16 by default) built
   afresh, each compared with ONNX Runtime on the CPU (label agreement,
   probability difference, latency) on ``--images`` or synthetic frames;
4. the real ``segmentation_node`` with ``backend:=tensorrt`` (on the last GPU,
   so a ``gpu_device`` other than 0 where there are several) fed camera frames
   through real topics for a few seconds; its labels, computed on the node's
   worker thread, are compared with ONNX Runtime's on the CPU.

Without TensorRT or a GPU the steps that need them are skipped with the
reason, and the exit status is 2 ("could not run"), as for ``check_engine``.
Exit status: 0 every step passed, 1 a step failed, 2 a step could not run.
"""

from __future__ import annotations

import importlib.metadata
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from fanet_ros.image_conversion import DecodedImage
from fanet_ros.labels import LabelSet
from fanet_ros.runtime.config import BackendConfig
from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
from fanet_ros.runtime.select import create_backend
from fanet_ros.segmentation_pipeline import SegmentationPipeline
from fanet_ros.tensorrt.availability import tensorrt_status
from fanet_ros.tensorrt.check import (
    DEFAULT_MIN_AGREEMENT,
    compare_backends,
    folder_frames,
    synthetic_frames,
)

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
SELF_TEST_TOPIC = "/fanet_self_test/image"
CAMERA_SIZE = (480, 640)
"""Frames the node gets (height, width): not the model's size, so resizing is exercised."""


@dataclass(frozen=True)
class EngineOptions:
    """The engine options of ``check_engine`` the self-test honours (the node's parameters)."""

    precision: str = "fp16"
    images: str = ""
    """Folder of test images; empty: synthetic frames."""
    min_agreement: float | None = None
    """Pass threshold in % of pixels; ``None``: :data:`DEFAULT_MIN_AGREEMENT` per precision."""
    input_height: int = 0
    input_width: int = 0
    workspace_mb: int = 1024
    calibration_dir: str = ""

    def threshold(self, precision: str) -> float:
        return DEFAULT_MIN_AGREEMENT[precision] if self.min_agreement is None else (
            self.min_agreement
        )

    def precisions(self) -> list[str]:
        """fp32 (the baseline) and the requested precision."""
        return ["fp32"] if self.precision == "fp32" else ["fp32", self.precision]


@dataclass(frozen=True)
class Row:
    step: str
    result: str
    detail: str


def format_table(rows: list[Row]) -> str:
    width = max(len("step"), *(len(r.step) for r in rows))
    lines = [f"{'step':<{width}}  result  detail", f"{'-' * width}  ------  ------"]
    lines += [f"{r.step:<{width}}  {r.result:<6}  {r.detail}" for r in rows]
    return "\n".join(lines)


def exit_status(rows: list[Row]) -> int:
    results = {r.result for r in rows}
    return 1 if FAIL in results else 2 if SKIP in results else 0


def _package_version(*names: str) -> str:
    for name in names:
        try:
            return f"{name} {importlib.metadata.version(name)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return "not installed"


def environment_row(gpu_device: int) -> tuple[Row, list[int]]:
    """TensorRT, cuda-python and the visible GPUs; the devices the other steps may use."""
    usable, why = tensorrt_status(gpu_device)
    cuda = _package_version("cuda-bindings", "cuda-python")
    if not usable:
        return Row("environment", SKIP, f"{why}; cuda-python: {cuda}"), []
    from fanet_ros.tensorrt.cuda_runtime import device_count, gpu_facts

    gpus = [gpu_facts(i) for i in range(device_count())]
    listed = ", ".join(
        f"{g.index}: {g.name} (cc {g.compute_capability}, {g.multiprocessor_count} SMs, "
        f"{g.total_memory_mb} MiB)" for g in gpus
    )
    return Row("environment", PASS, f"{why}; {cuda}; GPUs {listed}"), [g.index for g in gpus]


def engine_row(
    model: Path, precision: str, gpu_device: int, cache_dir: Path, frames: int,
    options: EngineOptions | None = None,
) -> Row:
    """Build the engine, compare it with ONNX Runtime on the CPU on test frames."""
    options = options or EngineOptions()
    step = f"engine {precision} (GPU {gpu_device})"
    started = time.perf_counter()
    try:  # the config too: a one-sided input size is a FAIL row, not a traceback
        config = BackendConfig(model_path=model, backend="tensorrt", precision=precision,
                               gpu_device=gpu_device, engine_cache_dir=str(cache_dir),
                               input_height=options.input_height,
                               input_width=options.input_width,
                               workspace_mb=options.workspace_mb,
                               int8_calibration_dir=options.calibration_dir)
        reference = OnnxRuntimeBackend(model, gpu_device=-1, input_size=config.input_size)
        candidate = create_backend(config)
    except Exception as exc:
        return Row(step, FAIL, f"build or load failed: {type(exc).__name__}: {exc}")
    build_s = time.perf_counter() - started
    try:
        images = folder_frames(options.images, frames) if options.images else synthetic_frames(
            frames, reference.input_height, reference.input_width)
        result = compare_backends(reference, candidate, images)
    except Exception as exc:
        return Row(step, FAIL, f"inference failed: {type(exc).__name__}: {exc}")
    finally:
        candidate.close()
    threshold = options.threshold(precision)
    difference = result.max_probability_difference
    detail = (
        f"ready in {build_s:.1f} s; agreement {result.agreement_percent:.3f} % over "
        f"{result.frames} frames (min {threshold} %)"
        + (f"; max prob. diff {difference:.5f}" if difference is not None else "")
        + f"; median {result.candidate_latency.median_ms:.2f} ms vs CPU "
        f"{result.reference_latency.median_ms:.2f} ms"
    )
    return Row(step, PASS if result.passed(threshold) else FAIL, detail)


def node_row(
    model: Path,
    backend: str,
    gpu_device: int,
    cache_dir: Path,
    seconds: float,
    log_dir: Path,
    precision: str = "fp16",
    rate_hz: float = 15.0,
    startup_timeout_s: float = 300.0,
    options: EngineOptions | None = None,
) -> Row:
    """The real node (own process) fed frames through topics; labels compared with ONNX Runtime.

    Each frame waits for its label (and is sent once more if it got none
    within a second), so the latency is that of one frame through an idle node.

    Needs rclpy and rosbags (``bag_eval``'s replay is reused); the caller keeps
    DDS on this machine (:func:`fanet_ros.tooling.ros_env.use_local_ros_domain`).
    """
    options = options or EngineOptions(precision=precision)
    step = f"node backend:={backend} (gpu_device {gpu_device})"
    try:
        from fanet_ros.evaluation.node_process import NodeProcess
        from fanet_ros.evaluation.replay import PlayedFrame, Replay
        from fanet_ros.evaluation.scoring import FrameScorer
    except ImportError as exc:
        return Row(step, SKIP, f"needs ROS 2 (rclpy) and rosbags: {exc}")
    pool, label_set = _frames_with_cpu_labels(model, 8, options)
    params = {"model_path": str(model), "backend": backend, "gpu_device": gpu_device,
              "precision": precision, "engine_cache_dir": str(cache_dir),
              "input_height": options.input_height, "input_width": options.input_width,
              "workspace_mb": options.workspace_mb,
              # a best-effort 900 KB frame is lost in Fast DDS's default 512 KiB segment
              f"qos_overrides.{SELF_TEST_TOPIC}.subscription.reliability": "reliable"}
    if options.calibration_dir:  # "-p name:=" (an empty value) does not parse
        params["int8_calibration_dir"] = options.calibration_dir
    try:
        with NodeProcess(params, SELF_TEST_TOPIC, log_dir / f"node_{backend}.log") as node, \
                Replay(SELF_TEST_TOPIC, "/segmentation_node/label",
                       "/segmentation_node/label_info") as replay:
            replay.warm_up(pool[0][0], startup_timeout_s, node.check_running)
            replay.start(FrameScorer(label_set))
            period, sent, started = 1.0 / rate_hz, 0, time.monotonic()
            while time.monotonic() - started < seconds:
                image, labels = pool[sent % len(pool)]
                index = replay.send(image, PlayedFrame(image.stamp, lambda t=labels: t, None))
                sent += 1
                if not replay.wait_for(index, 1.0):
                    replay.resend(image, index)
                    replay.wait_for(index, 2.0)
                node.check_running()
                time.sleep(max(0.0, started + sent * period - time.monotonic()))
            replay.drain(quiet_s=2.0)
            scorer, answered = replay.scorer, len(replay.answered)
            latencies = sorted(replay.latencies_ms)
            log_text = node.log_path.read_text(errors="replace")
    except Exception as exc:
        return Row(step, FAIL, f"{type(exc).__name__}: {exc}")
    assert scorer is not None
    agreement = 100.0 * scorer.confusion.scores().pixel_accuracy if scorer.frames else 0.0
    threshold = options.threshold(precision) if backend == "tensorrt" else 99.9
    used = _backend_line(log_text)
    passed = answered >= max(1, 0.9 * sent) and agreement >= threshold and backend in used
    median = latencies[len(latencies) // 2] if latencies else float("nan")
    detail = (
        f"{answered}/{sent} frames answered in {seconds:g} s (one at a time, at most "
        f"{rate_hz:g} Hz, a lost frame sent once more); agreement with "
        f"ONNX Runtime {agreement:.3f} % (min {threshold} %); median latency {median:.1f} ms"
        + (f"; node log: {used}" if used else "")
    )
    return Row(step, PASS if passed else FAIL, detail)


def _backend_line(log_text: str) -> str:
    """The node's ``backend: ...`` start-up line (which backend it really runs)."""
    lines = [line for line in log_text.splitlines() if "backend: " in line]
    return lines[0].split("backend: ", 1)[1].strip() if lines else ""


def _frames_with_cpu_labels(
    model: Path, count: int, options: EngineOptions
) -> tuple[list, LabelSet]:
    """Camera frames (``options.images`` or synthetic ones) as replay images, with the labels
    ONNX Runtime on the CPU gives them at the node's input size."""
    from fanet_ros.evaluation.bag_io import BagImage

    size = (options.input_height, options.input_width) if options.input_height else None
    pipeline = SegmentationPipeline(OnnxRuntimeBackend(model, gpu_device=-1, input_size=size))
    pool = []
    frames = folder_frames(options.images, count) if options.images else synthetic_frames(
        count, *CAMERA_SIZE, seed=11)
    for index, frame in enumerate(frames):
        labels = pipeline.process(DecodedImage(frame.pixels, "rgb8"), want_color=False,
                                  want_overlay=False).labels.copy()
        pool.append((BagImage((0, index), 0, frame.pixels, "rgb8", "camera"), labels))
    return pool, pipeline.metadata.label_set()


def run_self_test(
    model: Path, gpu_device: int, cache_dir: str, frames: int, seconds: float,
    print_line=print, options: EngineOptions | None = None,
) -> int:
    """Run every step, print the table, return the exit status."""
    options = options or EngineOptions()
    rows: list[Row] = []
    env, devices = environment_row(gpu_device)
    rows.append(env)
    if devices:
        work = Path(tempfile.mkdtemp(prefix="fanet_self_test_"))
        cache = Path(cache_dir).expanduser() if cache_dir else work / "engines"
        for precision in options.precisions():
            print_line(f"self-test: building and checking the {precision} engine ...")
            rows.append(engine_row(model, precision, gpu_device, cache, frames, options))
        node_gpu = max(devices)  # another GPU than 0 where there is one
        print_line(f"self-test: running segmentation_node with backend:=tensorrt on GPU "
                   f"{node_gpu} for {seconds:g} s ...")
        from fanet_ros.tooling.ros_env import use_local_ros_domain

        use_local_ros_domain(_private_domain())
        rows.append(node_row(model, "tensorrt", node_gpu, cache, seconds, work,
                             precision=options.precision, options=options))
        print_line(format_table(rows))
        print_line(f"node log: {work}" + ("" if cache_dir else f"; engines: {cache}"))
        return exit_status(rows)
    reason = "needs TensorRT and a GPU (see environment)"
    rows += [Row(f"engine {p}", SKIP, reason) for p in options.precisions()]
    rows.append(Row("node backend:=tensorrt", SKIP, reason))
    print_line(format_table(rows))
    return exit_status(rows)


def _private_domain() -> int:
    """A ROS domain other than the current one, so the test frames reach no running system."""
    from fanet_ros.tooling.ros_env import reserve_ros_domain

    current = os.environ.get("ROS_DOMAIN_ID", "0")
    return reserve_ros_domain(exclude=int(current) if current.isdigit() else None)
