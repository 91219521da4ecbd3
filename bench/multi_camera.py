"""Two cameras: one segmentation node serving both against one node per camera, same run.

Each setup runs in turn under the same load: two camera processes (bench/camera_publisher.py)
publish at ``--rate`` each; this process subscribes to both cameras' label outputs and
counts them after ``--warmup`` seconds, and samples the nodes' resident memory (RSS, summed
over the node processes). Writes bench/results/multi_camera.json and prints its table.

    python -m bench.multi_camera --rate 15 --camera-size 480x640 --duration 20
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import (
    REPO,
    RESULTS_DIR,
    format_size,
    module_command,
    parse_size,
    subprocess_module,
    write_and_show,
)
from bench.render_performance import multi_camera as render
from fanet_ros.evaluation.node_process import node_command
from fanet_ros.shipped_models import resolve_model
from fanet_ros.tooling.process_memory import rss_bytes
from fanet_ros.tooling.ros_env import use_local_ros_domain

UNITS = {"rss_mib_*": "MiB, summed over the node processes", "fps, fps_total": "label frames "
         "per second", "rate_per_camera": "frames per second", "duration_s, warmup_s": "seconds"}
NS = "/bench_cameras"
CAMERAS = ("front", "rear")
MIB = 1024 * 1024


def camera_topic(camera: str) -> str:
    return f"{NS}/{camera}/image_raw"


def setups(params: dict[str, Any]) -> dict[str, list[tuple[list[str], dict[str, str]]]]:
    """Setup name -> the node commands it starts, and the label topic of each camera."""
    one = node_command({**params, "cameras": "[front, rear]"},
                       {f"{c}/image": camera_topic(c) for c in CAMERAS}, NS)
    per_camera = [node_command(params, {"image": camera_topic(c)}, f"{NS}/{c}") for c in CAMERAS]
    return {
        "one node, two cameras": [(one, {c: f"{NS}/segmentation_node/{c}/label"
                                         for c in CAMERAS})],
        "two nodes, one camera each": [(cmd, {c: f"{NS}/{c}/segmentation_node/label"})
                                       for cmd, c in zip(per_camera, CAMERAS)],
    }


def run_setup(node: Any, commands: list[tuple[list[str], dict[str, str]]],
              args: argparse.Namespace) -> dict[str, Any]:
    """Start the nodes and the cameras, count labels per camera, sample RSS; stop them all."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    counts = dict.fromkeys(CAMERAS, 0)
    seen: set[str] = set()
    counting = threading.Event()
    lock = threading.Lock()

    def count(camera: str) -> Any:
        def on_label(_: Image) -> None:
            seen.add(camera)
            if counting.is_set():
                with lock:
                    counts[camera] += 1
        return on_label

    qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
    subscriptions = [node.create_subscription(Image, topic, count(camera), qos)
                     for _, topics in commands for camera, topic in topics.items()]
    nodes = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
             for cmd, _ in commands]
    cameras: list[subprocess.Popen] = []
    try:
        deadline = time.monotonic() + 120
        while not all(s.get_publisher_count() for s in subscriptions):
            if time.monotonic() > deadline or any(p.poll() is not None for p in nodes):
                raise RuntimeError("the node(s) did not start")
            time.sleep(0.2)
        height, width = args.camera_size
        cameras = [subprocess.Popen(
            subprocess_module("bench.camera_publisher", "--rate", str(args.rate),
                              "--height", str(height), "--width", str(width),
                              "--topic", camera_topic(c),
                              "--duration", str(args.warmup + args.duration + 120)),  # stopped
            stdout=subprocess.DEVNULL, cwd=REPO) for c in CAMERAS]
        deadline = time.monotonic() + 120  # camera processes start and are discovered
        while seen != set(CAMERAS):
            if time.monotonic() > deadline or any(p.poll() is not None for p in nodes):
                raise RuntimeError(f"no label yet from {sorted(set(CAMERAS) - seen)}")
            time.sleep(0.1)
        time.sleep(args.warmup)
        counting.set()
        start = time.monotonic()
        rss = []
        while (elapsed := time.monotonic() - start) < args.duration:
            rss.append(sum(rss_bytes(p.pid) for p in nodes) / MIB)
            time.sleep(0.5)
        counting.clear()
    finally:
        for proc in cameras + nodes:
            proc.send_signal(2)
        for proc in cameras + nodes:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for subscription in subscriptions:
            node.destroy_subscription(subscription)
    fps = {c: counts[c] / elapsed for c in CAMERAS}
    return {"processes": len(nodes), "rss_mib_median": statistics.median(rss),
            "rss_mib_peak": max(rss), "fps": fps, "fps_total": sum(fps.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fanet_camvid", help="shipped name or .onnx path")
    parser.add_argument("--rate", type=float, default=15.0, help="frames per second per camera")
    parser.add_argument("--camera-size", type=parse_size, default=(480, 640))
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured per setup")
    parser.add_argument("--num-threads", type=int, default=0, help="node num_threads")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()

    use_local_ros_domain()
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    rclpy.init()
    node = rclpy.create_node("bench_multi_camera")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinning = threading.Thread(target=executor.spin, daemon=True)
    spinning.start()
    params = {"model_path": str(resolve_model(args.model)), "backend": "onnxruntime",
              "num_threads": args.num_threads}
    runs = {}
    try:
        for name, commands in setups(params).items():
            runs[name] = run_setup(node, commands, args)
    finally:
        executor.shutdown()
        rclpy.try_shutdown()
    data = {"benchmark": "multi_camera", "command": module_command("bench.multi_camera"),
            "rate_per_camera": args.rate, "camera_size": format_size(args.camera_size),
            "model": args.model, "warmup_s": args.warmup, "duration_s": args.duration,
            "num_threads": args.num_threads, "runs": runs}
    write_and_show("multi_camera", data, args.results_dir, UNITS, render)

if __name__ == "__main__":
    main()
