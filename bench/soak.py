"""Soak: the node fed a reliable camera for minutes, every output subscribed; per window, the
output rate and latency, the node's CPU, and what an independent subscriber of the camera's
topic sees (rate, share of frames arriving in bursts, stamp-to-receipt delay).

    python -m bench.soak --duration 330 --transport default
    python -m bench.soak --duration 330 --transport large_images

Each run appends to ``bench/results/soak.json`` (data: one row per window, and per run its
command, commit and machine). With Fast DDS's
default transports and a 640x480 bgr8 camera at 30 Hz the camera's deliveries turn bursty
after about four minutes; with ``config/fastdds_large_images.xml`` in every process they do not.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import (
    REPO,
    RESULTS_DIR,
    git_ref,
    machine_info,
    module_command,
    subprocess_module,
)
from bench.node_pipeline import Recorder, transport_environment
from fanet_ros.evaluation.node_process import node_command
from fanet_ros.image_conversion import serialized_stamp_ns
from fanet_ros.node.throughput_watch import burst_share
from fanet_ros.tooling.ros_env import use_local_ros_domain

PROFILE = REPO / "config" / "fastdds_large_images.xml"
RESULTS = RESULTS_DIR / "soak.json"
UNITS = {"t_s": "seconds since the camera started (end of the window)", "*_hz": "hertz",
         "*_ms": "milliseconds", "node_cpu_percent": "percent of one core",
         "burst_share": "fraction of 1 of the camera's arrival gaps"}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CameraWatch:
    """A raw subscription to the camera topic: arrival times and stamp-to-receipt delays."""

    def __init__(self, node: Any) -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        self.node, self.lock, self.arrivals = node, threading.Lock(), []
        node.create_subscription(Image, "image", self._on_image,
                                 QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE),
                                 raw=True)

    def _on_image(self, serialized: bytes) -> None:
        now_ns = self.node.get_clock().now().nanoseconds
        stamp = serialized_stamp_ns(serialized) or now_ns
        with self.lock:
            self.arrivals.append((time.monotonic(), (now_ns - stamp) / 1e6))

    def window(self, start: float, end: float) -> dict[str, float | None]:
        with self.lock:
            rows = [(t, d) for t, d in self.arrivals if start <= t < end]
        delays = sorted(d for _, d in rows)
        return {
            "camera_hz": len(rows) / (end - start),
            "burst_share": burst_share([t for t, _ in rows]),
            "delay_p50_ms": delays[len(delays) // 2] if delays else None,
            "delay_p95_ms": delays[int(0.95 * len(delays))] if delays else None,
        }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=330.0, help="seconds of camera")
    parser.add_argument("--window", type=float, default=15.0, help="seconds per row")
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--camera-size", default="480x640", help="HxW")
    parser.add_argument("--transport", choices=("default", "large_images"), default="default",
                        help="large_images: config/fastdds_large_images.xml in every process")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    height, width = (int(v) for v in args.camera_size.split("x"))
    profile = str(PROFILE) if args.transport == "large_images" else "default"
    env = transport_environment(profile)
    os.environ.clear()
    os.environ.update(env)
    use_local_ros_domain()
    import rclpy
    import rclpy.executors

    rclpy.init()
    recorder_node = rclpy.create_node("soak_recorder")
    recorder, camera_watch = Recorder(recorder_node), CameraWatch(recorder_node)
    executor, stop = rclpy.executors.SingleThreadedExecutor(), threading.Event()
    executor.add_node(recorder_node)
    spinner = threading.Thread(target=lambda: [executor.spin_once(timeout_sec=0.1)
                                               for _ in iter(stop.is_set, True)])
    spinner.start()
    node = subprocess.Popen(node_command({"diagnostics_period": 1.0}), env=os.environ.copy(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not recorder.diagnostics and time.monotonic() < deadline:
        time.sleep(0.2)
    camera = subprocess.Popen(
        subprocess_module("bench.camera_publisher", "--rate", str(args.rate),
                          "--height", str(height), "--width", str(width),
                          "--duration", str(args.duration)), env=os.environ.copy(),
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=REPO)
    recorder.reset()
    rows, t0, cpu0 = [], time.monotonic(), cpu_seconds(node.pid)
    try:
        while camera.poll() is None:
            time.sleep(args.window - (time.monotonic() - t0) % args.window)
            end = time.monotonic()
            if end - t0 > args.duration:
                break
            start, cpu1 = end - args.window, cpu_seconds(node.pid)
            with recorder.lock:
                latencies = sorted(lat for t, lat in recorder.received["overlay"]
                                   if start - recorder.t0 <= t < end - recorder.t0)
                health = recorder.diagnostics[-1][1].get("health") if recorder.diagnostics \
                    else None
            row = {"t_s": round(end - t0), "output_hz": len(latencies) / args.window,
                   "output_p95_ms": 1000 * latencies[int(0.95 * len(latencies))]
                   if latencies else None,
                   "node_cpu_percent": 100 * (cpu1 - cpu0) / args.window, "health": health,
                   **camera_watch.window(start, end)}
            cpu0 = cpu1
            rows.append(row)
            print(" ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                           for k, v in row.items()), flush=True)
    finally:
        for process in (camera, node):
            if process.poll() is None:
                process.send_signal(2)
                process.wait(30)
        stop.set()
        spinner.join()
        rclpy.shutdown()
    run = {"command": module_command("bench.soak", argv), "git": git_ref(),
           "machine": machine_info(), "transport": args.transport,
           "camera": {"rate_hz": args.rate, "size": f"{height}x{width}", "encoding": "bgr8",
                      "reliability": "reliable", "publisher": "bench.camera_publisher"},
           "rows": rows}
    runs = json.loads(args.output.read_text())["runs"] if args.output.is_file() else []
    args.output.write_text(json.dumps({"benchmark": "soak", "units": UNITS,
                                       "runs": runs + [run]}, indent=1) + "\n")
    return run


if __name__ == "__main__":
    main()
