"""Node pipeline benchmark: camera process -> segmentation_node process -> this subscriber.

For each camera rate, starts a fresh node (``python -m fanet_ros.node.segmentation_node``)
and a camera publisher process, subscribes to ``label``, ``color`` and
``overlay`` (so every output is computed) and to ``/diagnostics``, and after a
warm-up measures for ``--duration`` seconds: the node's per-stage times, the
non-inference share of a frame, stamp-to-receipt latency at this subscriber
(p50/p95/p99, first vs last 30 s), output rate, dropped frames and the node's
RSS at the start and end.

    python -m bench.node_pipeline                      # FANet 512x1024, 10/30/60 Hz, 2 min each
    python -m bench.node_pipeline --rates 30 --duration 20 --model model.onnx
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    CACHE_DIR,
    REPO,
    machine_info,
    module_command,
    parse_size,
    subprocess_module,
    write_and_show,
)
from bench.render_performance import OUTPUT_KINDS
from bench.render_performance import node_pipeline as render
from fanet_ros.evaluation.node_process import node_command
from fanet_ros.image_conversion import image_from_serialized
from fanet_ros.launching.launch_arguments import DDS_PROFILE_VARIABLES, profile_variables
from fanet_ros.node.malloc_tuning import OPT_OUT as MALLOC_OPT_OUT
from fanet_ros.node.malloc_tuning import keep_image_buffers
from fanet_ros.shipped_models import shipped_model_path
from fanet_ros.tooling.ros_env import use_local_ros_domain

NODE_NAME = "segmentation_node"
STAGES = ("convert", "preprocess", "inference", "postprocess", "publish")
OUTPUTS = ("label", "color", "overlay")
WARMUP_FRAMES = 3
"""Output frames the node must have produced before measuring starts (after --warmup s)."""
CAMERA_MAX_S = 3600.0
"""The camera runs until stopped; this only bounds an orphaned one."""
ENVIRONMENT = ("RMW_IMPLEMENTATION", "FASTDDS_BUILTIN_TRANSPORTS")
"""Variables that change how images travel between processes; recorded with the results."""
DEFAULT_TRANSPORT = "default"
LARGE_IMAGES_PROFILE = REPO / "config" / "fastdds_large_images.xml"
SUBSCRIBED = [*OUTPUTS, "/diagnostics"]
UNITS = {"*_ms, stage_ms": "milliseconds", "*_hz": "hertz", "*_s": "seconds",
         "rss_mb_*": "MiB (VmRSS)", "non_inference_share_of_inference, *_over_frame_processing, "
         "rss_growth": "fraction of 1", "frames_*, outputs_received": "frames",
         "load_average_at_start": "1-, 5- and 15-minute load averages"}


def rss_mb(pid: int) -> float | None:
    """Resident set size of process ``pid`` in MiB (``VmRSS``), ``None`` once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


class Recorder:
    """Subscribes to the node's outputs and diagnostics and keeps what arrives, timestamped."""

    def __init__(self, node: Any) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        self.node = node
        self.lock = threading.Lock()
        self.t0 = time.monotonic()
        self.received: dict[str, list[tuple[float, float]]] = {name: [] for name in OUTPUTS}
        """Per output: (seconds since reset, stamp-to-receipt latency in seconds)."""
        self.diagnostics: list[tuple[float, dict[str, str]]] = []
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        # raw: only the stamp is read (fanet_ros.image_conversion.image_from_serialized), so
        # this Python subscriber does not spend the CPU the node needs on deserializing images
        self.subscriptions = [
            node.create_subscription(
                Image, f"/{NODE_NAME}/{name}", self._on_output(name), qos, raw=True
            )
            for name in OUTPUTS
        ]
        self.subscriptions.append(
            node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        )

    def reset(self) -> None:
        with self.lock:
            self.t0 = time.monotonic()
            for values in self.received.values():
                values.clear()
            self.diagnostics.clear()

    def _on_output(self, name: str):
        def record(serialized: bytes) -> None:
            now = self.node.get_clock().now().nanoseconds
            image = image_from_serialized(serialized)
            stamp = image.stamp_sec * 1_000_000_000 + image.stamp_nanosec
            with self.lock:
                self.received[name].append((time.monotonic() - self.t0, (now - stamp) * 1e-9))

        return record

    def _on_diagnostics(self, msg: Any) -> None:
        for status in msg.status:
            if NODE_NAME in status.name:
                with self.lock:
                    values = {kv.key: kv.value for kv in status.values}
                    self.diagnostics.append((time.monotonic() - self.t0, values))


def percentiles_ms(latencies: list[float]) -> dict[str, float | None]:
    if not latencies:
        return {"p50": None, "p95": None, "p99": None}
    p50, p95, p99 = np.percentile(np.asarray(latencies) * 1000.0, (50, 95, 99))
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99)}


def stage_means(diagnostics: list[tuple[float, dict[str, str]]]) -> dict[str, float]:
    """Per-stage mean milliseconds over the periods, each weighted by its frame count."""
    totals = dict.fromkeys(STAGES, 0.0)
    frames = 0
    previous = None
    for _, values in diagnostics:
        published = int(values.get("frames_published", 0))
        if previous is not None and published > previous and "stage_inference_ms" in values:
            n = published - previous
            frames += n
            for stage in STAGES:
                totals[stage] += n * float(values.get(f"stage_{stage}_ms", 0.0))
        previous = published
    return {stage: totals[stage] / frames for stage in STAGES} if frames else {}


NODE_WINDOWS = ("input_delay", "queue_wait", "processing", "latency")
"""The node's own latency windows (/diagnostics): stamp to receipt, receipt to the worker,
receipt to publish, stamp to publish."""


def node_breakdown(diagnostics: list[tuple[float, dict[str, str]]]) -> dict[str, float]:
    """Median over the diagnostics periods of each node window's p50 and p95 (ms)."""
    breakdown = {}
    for window in NODE_WINDOWS:
        for q in ("p50", "p95"):
            key = f"{window}_{q}_ms"
            values = [float(v[key]) for _, v in diagnostics if key in v]
            if values:
                breakdown[f"{window}_{q}"] = float(np.median(values))
    return breakdown


def summarize(
    rate: float,
    recorder: Recorder,
    start: float,
    duration: float,
    rss_start: float | None,
    rss_end: float | None,
    frames_sent: int | None,
) -> dict[str, Any]:
    """One rate's numbers from what the recorder kept in the measurement window."""
    end = start + duration
    with recorder.lock:
        window = {
            name: [(t, lat) for t, lat in values if start <= t <= end]
            for name, values in recorder.received.items()
        }
        diagnostics = [(t, v) for t, v in recorder.diagnostics if start - 1.0 <= t <= end + 1.0]
    overlay = window["overlay"]
    latencies = [lat for _, lat in overlay]
    edge = min(30.0, duration / 3.0)
    first = [lat for t, lat in overlay if t < start + edge]
    last = [lat for t, lat in overlay if t >= end - edge]
    stages = stage_means(diagnostics)
    frame_ms = sum(stages.values()) if stages else None
    inference = stages.get("inference")
    non_inference = frame_ms - inference if stages else None

    def counter(key: str) -> int | None:
        if len(diagnostics) < 2:
            return None
        return int(diagnostics[-1][1].get(key, 0)) - int(diagnostics[0][1].get(key, 0))

    e2e = percentiles_ms(latencies)
    breakdown = node_breakdown(diagnostics)
    return {
        "rate_hz": rate,
        "duration_s": duration,
        "frames_sent": frames_sent,
        "output_rate_hz": len(overlay) / duration,
        "outputs_received": {name: len(values) for name, values in window.items()},
        "stage_ms": stages,
        "frame_processing_ms": frame_ms,
        "non_inference_ms": non_inference,
        "non_inference_share_of_inference": (non_inference / inference) if inference else None,
        "latency_ms": e2e,
        "latency_first_ms": percentiles_ms(first),
        "latency_last_ms": percentiles_ms(last),
        "flat_window_s": edge,
        "node_breakdown_ms_median_of_periods": breakdown,
        "p95_over_frame_processing": (e2e["p95"] / frame_ms) if frame_ms and e2e["p95"] else None,
        "node_p95_over_frame_processing": (
            breakdown["latency_p95"] / frame_ms if frame_ms and "latency_p95" in breakdown else None
        ),
        "frames_dropped_stale": counter("frames_dropped_stale"),
        "frames_received_by_node": counter("frames_received"),
        "frames_published_by_node": counter("frames_published"),
        "rss_mb_start": rss_start,
        "rss_mb_end": rss_end,
        "rss_growth": (rss_end - rss_start) / rss_start if rss_start and rss_end else None,
    }


def wait_until(predicate, timeout: float, what: str, check=None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if check is not None:
            check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def transport_environment(profile: str, glibc_defaults: bool = False) -> dict[str, str]:
    """The environment for the node and camera processes under a Fast DDS ``profile``.

    ``default``: no profile file (Fast DDS's and the RMW's defaults); else a profile path.
    ``glibc_defaults``: the node leaves malloc as it is (no ``keep_image_buffers``).
    """
    env = {k: v for k, v in os.environ.items() if k not in DDS_PROFILE_VARIABLES}
    if glibc_defaults:
        env[MALLOC_OPT_OUT] = "0"
    if profile != DEFAULT_TRANSPORT:
        env.update(dict.fromkeys(profile_variables(os.environ), str(Path(profile).resolve())))
    return env


def transport_name(profile: str) -> str:
    return profile if profile == DEFAULT_TRANSPORT else Path(profile).stem


def run_rate(
    rate: float, profile: str, args: argparse.Namespace, model: Path, recorder: Recorder,
    log_dir: Path,
) -> dict[str, Any]:
    """Start a node and a camera at ``rate`` Hz under ``profile``, measure, stop both."""
    height, width = parse_size(args.camera_size)
    env = transport_environment(profile, glibc_defaults=args.malloc == "defaults")
    log_path = log_dir / f"node_{rate:g}hz_{transport_name(profile)}.log"
    node_cmd = node_command({
        "model_path": model, "num_threads": args.num_threads, "diagnostics_period": 1.0,
        "output_resolution": args.output_resolution,
        "qos_overrides./image.subscription.reliability": args.input_reliability,
        "qos_overrides./image.subscription.depth": args.input_depth,
    })
    with log_path.open("wb") as log:
        node = subprocess.Popen(node_cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    camera = None
    try:

        def node_alive() -> None:
            if node.poll() is not None:
                raise RuntimeError(f"node exited ({node.returncode}); see {log_path}")

        recorder.reset()
        wait_until(lambda: recorder.diagnostics, 60.0, "the node's first /diagnostics", node_alive)
        camera = subprocess.Popen(
            subprocess_module("bench.camera_publisher", "--rate", str(rate),
                              "--height", str(height), "--width", str(width),
                              "--duration", str(CAMERA_MAX_S),
                              "--reliability", args.input_reliability),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO,
        )
        recorder.reset()
        wait_until(lambda: len(recorder.received["overlay"]) >= WARMUP_FRAMES, 120.0,
                   f"{WARMUP_FRAMES} output frames", node_alive)
        time.sleep(max(0.0, args.warmup - (time.monotonic() - recorder.t0)))
        measure_from = time.monotonic() - recorder.t0
        rss_start = rss_mb(node.pid)
        time.sleep(args.duration)
        rss_end = rss_mb(node.pid)
        node_alive()
        camera.send_signal(2)
        output = camera.communicate(timeout=30)[0]
        sent = re.findall(r"published (\d+) frames", output)
        summary = summarize(
            rate, recorder, measure_from, args.duration, rss_start, rss_end,
            int(sent[0]) if sent else None,
        )
        return {"transport": transport_name(profile), **summary}
    finally:
        for proc in (camera, node):
            if proc is not None and proc.poll() is None:
                proc.send_signal(2)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="ONNX model (default: the shipped CamVid "
                        "model of --model-name at --model-size for the logits output, else "
                        "--model-name exported with random weights)")
    parser.add_argument("--model-name", default="fanet", help="registry model")
    parser.add_argument("--model-size", default="512x1024", help="HxW to export the model at")
    parser.add_argument("--camera-size", default="1024x2048", help="HxW of the camera frames")
    parser.add_argument("--rates", type=float, nargs="+", default=[10.0, 30.0, 60.0])
    parser.add_argument("--duration", type=float, default=120.0, help="measured seconds per rate")
    parser.add_argument("--warmup", type=float, default=10.0,
                        help=f"seconds before measuring (and at least {WARMUP_FRAMES} outputs)")
    parser.add_argument("--output", choices=OUTPUT_KINDS, default="logits",
                        help="model output: logits at stride 8 (labels by the node's exact "
                             "refinement, as the shipped models), labels (arg-max in the model, "
                             "the old --labels export) or probabilities (arg-max in the node)")
    parser.add_argument("--transports", nargs="+",
                        default=[DEFAULT_TRANSPORT, str(LARGE_IMAGES_PROFILE)],
                        help=f"'{DEFAULT_TRANSPORT}' and/or Fast DDS profile files; each rate "
                             "runs once per transport, in turn")
    parser.add_argument("--output-resolution", choices=("input", "model"), default="input")
    parser.add_argument("--input-reliability", choices=("reliable", "best_effort"),
                        default="reliable", help="camera QoS (the node's is overridden to match)")
    parser.add_argument("--input-depth", type=int, default=5,
                        help="the node's image subscription depth (sensor-data QoS: 5)")
    parser.add_argument("--malloc", choices=("tuned", "defaults"), default="tuned",
                        help="tuned: the node and this subscriber keep image-sized heap blocks "
                        "(keep_image_buffers); defaults: both leave glibc's malloc as it is")
    parser.add_argument("--num-threads", type=int, default=0, help="ONNX Runtime threads (0: all)")
    parser.add_argument("--name", default="node_pipeline", help="results file name (no suffix)")
    parser.add_argument("--results-dir", type=Path, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    use_local_ros_domain()
    if args.malloc == "tuned":
        keep_image_buffers()  # as the node does: this subscriber's receive cost is not the node's
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    shipped = shipped_model_path(args.model_name)
    if args.model is not None:
        model, described = args.model, {"file": args.model.name, "weights": None}
    elif args.output == "logits" and shipped.is_file():
        from bench.model_table import at_input_size

        model = at_input_size(shipped, parse_size(args.model_size), "logits")
        described = {"file": shipped.name, "weights": "trained", "input_size": args.model_size,
                     "output": args.output}
    else:
        from bench.exported_models import exported_model

        model = exported_model(args.model_name, parse_size(args.model_size), head=args.output)
        described = {"name": args.model_name, "weights": "random",
                     "input_size": args.model_size, "output": args.output}
    load_at_start = machine_info()["load_average_1_5_15"]
    log_dir = CACHE_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)

    rclpy.init()
    node = rclpy.create_node("bench_subscriber")
    recorder = Recorder(node)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.1)

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    runs = []
    try:
        for rate in args.rates:
            for profile in args.transports:
                print(f"{rate:g} Hz, {transport_name(profile)} transport: {args.warmup:g} s "
                      f"warm-up + {args.duration:g} s ...", flush=True)
                runs.append(run_rate(rate, profile, args, model, recorder, log_dir))
    finally:
        stop.set()
        spinner.join()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    height, width = parse_size(args.camera_size)
    data = {
        "benchmark": "node_pipeline",
        "command": module_command("bench.node_pipeline", argv),
        "model": described,
        "backend": "ONNX Runtime CPU",
        "camera": {"encoding": "bgr8", "size": f"{height}x{width}",
                   "reliability": args.input_reliability},
        "output_resolution": args.output_resolution,
        "malloc": args.malloc,
        "num_threads": args.num_threads,
        "load_average_at_start": load_at_start,
        "environment": {k: os.environ[k] for k in ENVIRONMENT if k in os.environ},
        "subscribers": SUBSCRIBED,
        "runs": runs,
    }
    write_and_show(args.name, data, args.results_dir, UNITS, render)
    return data

if __name__ == "__main__":
    main()
