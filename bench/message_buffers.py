"""What glibc's handling of image-sized blocks costs rclpy, with and without keep_image_buffers.

Times ``rclpy.serialization.serialize_message`` and ``deserialize_message`` of
one camera-sized ``sensor_msgs/Image`` (each allocates and frees buffers the
size of the image, as publishing and taking do), in two fresh processes: one
with glibc's defaults, one after ``fanet_ros.node.malloc_tuning.keep_image_buffers()``.

    python -m bench.message_buffers --camera-size 1024x2048 --iterations 30
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

from bench.common import (
    REPO,
    median_ms,
    module_command,
    parse_size,
    subprocess_module,
    write_and_show,
)
from bench.render_performance import message_buffers as render
from fanet_ros.tooling.ros_env import use_local_ros_domain

UNITS = {"*_ms": "milliseconds (median)", "camera_size": "pixels, height x width"}
MODES = {"glibc defaults": "plain", "keep_image_buffers()": "tuned"}


def measure(mode: str, height: int, width: int, iterations: int) -> dict[str, float]:
    """Median ms of serialize / deserialize in this process (``mode``: plain or tuned)."""
    use_local_ros_domain()  # no participant is created, but rclpy is imported
    if mode == "tuned":
        from fanet_ros.node.malloc_tuning import keep_image_buffers

        if not keep_image_buffers():
            raise SystemExit("no glibc mallopt on this system")
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import Image

    from fanet_ros.image_conversion import fill_image_msg, message_array

    msg = fill_image_msg(Image(), message_array((height, width, 3)), "bgr8", Image().header)
    serialize = median_ms(lambda: serialize_message(msg), iterations, warmup=2)
    raw = serialize_message(msg)
    deserialize = median_ms(lambda: deserialize_message(raw, Image), iterations, warmup=2)
    return {"serialize_ms": serialize, "deserialize_ms": deserialize}


def run(height: int, width: int, iterations: int) -> dict[str, dict[str, float]]:
    """Each mode measured in its own process (malloc settings are per process)."""
    results = {}
    for label, mode in MODES.items():
        out = subprocess.run(
            subprocess_module("bench.message_buffers", "--child", mode, "--camera-size",
                              f"{height}x{width}", "--iterations", str(iterations)),
            capture_output=True, text=True, check=True, cwd=REPO,
        )
        results[label] = json.loads(out.stdout.strip().splitlines()[-1])
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--camera-size", default="1024x2048")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--child", choices=tuple(MODES.values()), help=argparse.SUPPRESS)
    parser.add_argument("--results-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    height, width = parse_size(args.camera_size)
    if args.child:
        print(json.dumps(measure(args.child, height, width, args.iterations)))
        return {}
    results = run(height, width, args.iterations)
    data = {"benchmark": "message_buffers",
            "command": module_command("bench.message_buffers", argv),
            "camera_size": [height, width], "iterations": args.iterations, "modes": results}
    write_and_show("message_buffers", data, args.results_dir, UNITS, render)
    return data


if __name__ == "__main__":
    main()
