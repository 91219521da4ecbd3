"""Command line: write a synthetic dataset, time the generator, or save a preview sheet.

    python -m fanet_ros.synthetic --out DIR --train N --val M [--height H --width W --seed S]
    python -m fanet_ros.synthetic --benchmark [--frames N]
    python -m fanet_ros.synthetic --preview sheet.png [--count 4]
"""

from __future__ import annotations

import argparse
import sys
import time

import cv2
import numpy as np

from fanet_ros.labels import CAMVID
from fanet_ros.synthetic.dataset import WRITERS, scene_rng, write_dataset
from fanet_ros.synthetic.scene import generate_scene


def colourise(labels: np.ndarray) -> np.ndarray:
    """CamVid colours for class ids, black for void."""
    palette = np.zeros((256, 3), np.uint8)
    palette[:CAMVID.num_classes] = CAMVID.colors
    return palette[labels]


def benchmark(frames: int, height: int, width: int, seed: int
              ) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds per generate_scene call (sample a layout, render it).

    CPU time is the steadier number on a busy machine.
    """
    generate_scene(seed, height, width)  # warm-up: caches the noise field
    wall, cpu = [], []
    for index in range(frames):
        start, start_cpu = time.perf_counter(), time.process_time()
        generate_scene(scene_rng(seed, "train", index), height, width)
        wall.append((time.perf_counter() - start) * 1000.0)
        cpu.append((time.process_time() - start_cpu) * 1000.0)
    return wall, cpu


def preview(path: str, count: int, height: int, width: int, seed: int) -> None:
    """Save ``count`` scenes, each next to its colourised labels, as one image."""
    rows = []
    for index in range(count):
        rgb, labels = generate_scene(scene_rng(seed, "train", index), height, width)
        rows.append(np.hstack([rgb, colourise(labels)]))
    if not cv2.imwrite(path, cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write preview '{path}'")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fanet_ros.synthetic",
        description="Synthetic street scenes with CamVid labels.")
    parser.add_argument("--out", help="dataset folder to write")
    parser.add_argument("--train", type=int, default=100, help="training images (default 100)")
    parser.add_argument("--val", type=int, default=20, help="validation images (default 20)")
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--width", type=int, default=480)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layout", choices=WRITERS, default="camvid",
                        help="camvid: train/ trainannot/ ... (void = 11); "
                             "folder: images/{split} labels/{split} (void = 255)")
    parser.add_argument("--benchmark", action="store_true", help="time the generator and exit")
    parser.add_argument("--frames", type=int, default=50, help="scenes to time (--benchmark)")
    parser.add_argument("--preview", metavar="PNG", help="save scenes + labels side by side")
    parser.add_argument("--count", type=int, default=4, help="scenes in the preview")
    args = parser.parse_args(argv)
    if not (args.out or args.benchmark or args.preview):
        parser.error("give --out DIR, --benchmark or --preview PNG")
    if args.benchmark:
        wall, cpu = benchmark(args.frames, args.height, args.width, args.seed)
        print(f"generate_scene {args.height}x{args.width} over {len(wall)} scenes: "
              f"wall median {np.median(wall):.1f} ms (p90 {np.percentile(wall, 90):.1f} ms), "
              f"CPU median {np.median(cpu):.1f} ms")
    if args.preview:
        preview(args.preview, args.count, args.height, args.width, args.seed)
        print(f"wrote {args.preview}")
    if args.out:
        root = write_dataset(args.out, args.train, args.val, args.height, args.width, args.seed,
                             args.layout)
        print(f"wrote {args.train} train + {args.val} val scenes to {root} ({args.layout} layout)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
