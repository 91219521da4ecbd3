"""The node's memory after huge frames: small frames, then large ones, then small again.

Starts the node in its own process (``--child``: :class:`SegmentationNode` as ``main``
runs it, plus a reporter reading commands on stdin), publishes rgb8 frames from this
process (reliable, each sent once the previous one came out of every subscribed output)
and, after each phase, prints the node's RSS and where it is: Python/NumPy objects
(tracemalloc), the pipeline's reused buffers, glibc's heap (mallinfo2) and resident
mappings by kind (/proc/PID/smaps). The last phase calls ``malloc_trim(0)`` in the node.

    python -m bench.memory_after_large_frames               # 480x640, then 6 x 4096x4096
    python -m bench.memory_after_large_frames --outputs label --large 4096x4096 --count 6
    python -m bench.memory_after_large_frames --plain       # the node command, RSS only
    python -m bench.memory_after_large_frames --profile     # node with the large-images
                                                            # profile (DYNAMIC histories)
    python -m bench.memory_after_large_frames --save [--profile]   # bench/results/*.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import REPO, module_command, parse_size, subprocess_module, write_results
from bench.render_performance import markdown_table
from fanet_ros.evaluation.output_stamps import OutputStamps
from fanet_ros.tooling.ros_env import use_local_ros_domain

MODULE = "bench.memory_after_large_frames"
UNITS = {"rss, python_objects, pipeline_buffers, resident_*, malloc_*": "MiB",
         "large": "pixels, height x width", "count": "large frames"}
NAMESPACE = "/memory_bench"
OUTPUTS = ("label", "color", "overlay", "confidence")
MIB = 1024 * 1024
FRAME_TIMEOUT_S = 120.0
PROFILE = REPO / "config" / "fastdds_large_images.xml"


# -- the node's side ----------------------------------------------------------------


def run_child(argv: list[str]) -> int:
    """The node plus a reporter: ``report PHASE`` prints one JSON line, ``trim`` trims."""
    import tracemalloc

    tracemalloc.start()
    from fanet_ros.node.malloc_tuning import keep_image_buffers

    keep_image_buffers()
    import rclpy

    from fanet_ros.node.callback_guard import GuardedExecutor
    from fanet_ros.node.segmentation_node import SegmentationNode
    from fanet_ros.tooling.process_memory import malloc_trim

    rclpy.init(args=argv)
    node = SegmentationNode()
    executor = GuardedExecutor(node.callback_failures)
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command, _, phase = line.strip().partition(" ")
        if command == "trim":
            malloc_trim()
        if command in ("report", "trim"):
            print(json.dumps(node_report(node, phase)), flush=True)
        if command == "quit":
            break
    executor.shutdown(timeout_sec=1.0)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


def node_report(node: Any, phase: str) -> dict[str, Any]:
    """The node process's memory now, in MiB."""
    import tracemalloc

    from fanet_ros.tooling.process_memory import heap_use, resident_by_kind, rss_bytes

    heap = heap_use()
    traced, _ = tracemalloc.get_traced_memory()
    report = {
        "phase": phase,
        "rss": rss_bytes() / MIB,
        "python_objects": traced / MIB,
        "pipeline_buffers": node.pipeline.buffer_bytes() / MIB,
        **{f"resident_{k}": v / MIB for k, v in resident_by_kind().items()},
    }
    if heap is not None:
        report.update(malloc_in_use=heap.in_use / MIB, malloc_free=heap.free / MIB,
                      malloc_mmapped=heap.mmapped / MIB)
    return report


# -- the camera's side --------------------------------------------------------------


def frame(size: tuple[int, int], stamp: int) -> Any:
    import numpy as np
    from sensor_msgs.msg import Image

    from fanet_ros.image_conversion import fill_image_msg

    pixels = np.random.default_rng(stamp).integers(0, 256, (*size, 3), dtype=np.uint8)
    msg = Image()
    msg.header.stamp.sec = stamp
    return fill_image_msg(msg, pixels, "rgb8", msg.header)


def send_phase(publisher: Any, outputs: OutputStamps, size: tuple[int, int], count: int,
               first_stamp: int) -> int:
    """Publish ``count`` frames of ``size``, each once the previous one came out."""
    stamp = first_stamp
    for _ in range(count):
        msg = frame(size, stamp)
        deadline = time.monotonic() + FRAME_TIMEOUT_S
        publisher.publish(msg)
        while not outputs.wait(stamp, 2.0):  # republished: a reliable writer of depth 1
            if time.monotonic() > deadline:
                raise RuntimeError(f"frame {stamp} ({size[0]}x{size[1]}) never came out")
            publisher.publish(msg)
        stamp += 1
    return stamp


class NodeChild:
    """The node process (``--child`` of this script, or the plain node command)."""

    def __init__(self, model: str, plain: bool, profile: bool) -> None:
        from fanet_ros.evaluation.node_process import node_command
        from fanet_ros.launching.launch_arguments import QOS_FROM_XML, profile_variables

        command = node_command({"model_path": model}, {"image": f"{NAMESPACE}/image"},
                               NAMESPACE)
        if not plain:
            command = subprocess_module(MODULE, "--child", MODULE, *command[3:])
        self.plain = plain
        env = dict(os.environ)
        if profile:  # the node's process only: the camera is not ours
            env.update(dict.fromkeys(profile_variables(env), str(PROFILE)), **{QOS_FROM_XML: "1"})
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, env=env, cwd=REPO)
        if not plain:
            self._reply()

    def _reply(self) -> dict[str, Any]:
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"the node exited ({self.process.wait()})")
            if line.startswith("{"):
                return json.loads(line)

    def report(self, phase: str, trim: bool = False) -> dict[str, Any]:
        if self.plain:
            from fanet_ros.tooling.process_memory import resident_by_kind, rss_bytes

            kinds = resident_by_kind(self.process.pid)
            return {"phase": phase, "rss": rss_bytes(self.process.pid) / MIB,
                    **{f"resident_{k}": v / MIB for k, v in kinds.items()}}
        self.process.stdin.write(f"{'trim' if trim else 'report'} {phase}\n")
        self.process.stdin.flush()
        return self._reply()

    def stop(self) -> None:
        if self.process.poll() is None:
            if not self.plain:
                self.process.stdin.write("quit\n")
                self.process.stdin.flush()
            else:
                self.process.send_signal(2)
            try:
                self.process.wait(15.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from fanet_ros.shipped_models import resolve_model

    child = NodeChild(str(resolve_model(args.model)), args.plain, args.profile)
    rclpy.init()
    node = rclpy.create_node("memory_bench_camera")
    publisher = node.create_publisher(
        Image, f"{NAMESPACE}/image", QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE))
    outputs = OutputStamps(node, NAMESPACE, args.outputs)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    reports = []
    try:
        stamp = send_phase(publisher, outputs, args.small, args.small_count, 1)
        time.sleep(args.settle)
        reports.append(child.report(f"after {args.small_count} x {args.small[0]}x{args.small[1]}"))
        stamp = send_phase(publisher, outputs, args.large, args.count, stamp)
        time.sleep(args.settle)
        reports.append(child.report(f"after {args.count} x {args.large[0]}x{args.large[1]}"))
        send_phase(publisher, outputs, args.small, args.small_count, stamp)
        time.sleep(args.settle)
        reports.append(child.report("small frames again"))
        reports.append(child.report("then malloc_trim(0)", trim=not args.plain))
    finally:
        child.stop()
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown()
    return reports


COLUMNS = ("rss", "python_objects", "pipeline_buffers", "malloc_in_use", "malloc_free",
           "malloc_mmapped", "resident_heap", "resident_anon_large", "resident_anon",
           "resident_shm", "resident_file")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        use_local_ros_domain()
        return run_child(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="ONNX model (default: the shipped one)")
    parser.add_argument("--outputs", default=",".join(OUTPUTS),
                        type=lambda s: tuple(s.split(",")), help="outputs to subscribe")
    parser.add_argument("--small", type=parse_size, default=(480, 640))
    parser.add_argument("--small-count", type=int, default=10)
    parser.add_argument("--large", type=parse_size, default=(4096, 4096))
    parser.add_argument("--count", type=int, default=6, help="large frames")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds before each report")
    parser.add_argument("--plain", action="store_true",
                        help="run `python -m fanet_ros.node.segmentation_node` "
                             "(RSS and smaps only)")
    parser.add_argument("--profile", action="store_true",
                        help="start the node with config/fastdds_large_images.xml and "
                             "RMW_FASTRTPS_USE_QOS_FROM_XML=1")
    parser.add_argument("--save", action="store_true", help="write bench/results/*.json")
    parser.add_argument("--results-dir", type=Path, default=None)
    args = parser.parse_args()
    use_local_ros_domain()
    reports = measure(args)
    columns = [c for c in COLUMNS if c in reports[0]]
    print(f"outputs subscribed: {','.join(args.outputs)}; MiB")
    print(markdown_table(["phase", *columns], [[r["phase"], *(r[c] for c in columns)]
                                               for r in reports]))
    print(f"RSS small frames again - start: {reports[2]['rss'] - reports[0]['rss']:+.1f} MiB")
    if args.save:
        name = ("memory_after_large_frames" + ("_profile" if args.profile else "")
                + ("_plain" if args.plain else ""))
        print(write_results(name, {"benchmark": "memory_after_large_frames",
                                   "command": module_command(MODULE),
                                   "outputs": list(args.outputs), "profile": args.profile,
                                   "large": list(args.large), "count": args.count,
                                   "reports": reports}, args.results_dir, UNITS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
