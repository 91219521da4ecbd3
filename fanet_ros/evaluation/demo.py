"""The one-command demo: a generated drive through the real node, scored like a real bag.

Steps: generate a street drive (``fanet_ros.synthetic``) with pixel-exact
labels, write it as a rosbag2, start ``segmentation_node`` on the shipped
model trained on the generator, replay the bag through real topics twice
(``lossless`` for accuracy, ``realtime`` at the camera's rate for latency and
drops) and write the evaluation reports. Needs no dataset and no GPU.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from fanet_ros.tooling.arguments import int_at_least
from fanet_ros.tooling.host import cpu_model
from fanet_ros.tooling.interrupts import interrupted, sigterm_unwinds
from fanet_ros.tooling.markdown_blocks import update_file_block
from fanet_ros.tooling.ros_env import use_local_ros_domain

DEMO_MODEL = ("fanet", "synthetic")
DEMO_SEED = 2026
"""Drive seed; the demo model's training scenes come from other seeds."""


def build_parser() -> argparse.ArgumentParser:
    from fanet_ros.shipped_models import shipped_model_path

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output-dir", type=Path, default=Path("output/demo"),
                        help="where the bag and the reports go (default: output/demo)")
    parser.add_argument("--model-path", type=Path, default=shipped_model_path(*DEMO_MODEL),
                        help="ONNX model (default: the shipped FANet trained on synthetic scenes)")
    parser.add_argument("--frames", type=int_at_least(1), default=100, help="frames in the drive")
    parser.add_argument("--fps", type=float, default=10.0, help="camera rate of the drive")
    parser.add_argument("--height", type=int, default=360, help="camera image height")
    parser.add_argument("--width", type=int, default=480, help="camera image width")
    parser.add_argument("--seed", type=int, default=DEMO_SEED, help="which street to drive")
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    parser.add_argument("--num-threads", type=int, default=0,
                        help="ONNX Runtime threads in the node (0: all cores)")
    parser.add_argument("--readme", type=Path,
                        help="also rewrite this README's demo block with the figures and copy "
                             "the frames image to docs/images/ beside it")
    return parser


def run_demo(args: argparse.Namespace) -> int:
    from fanet_ros.evaluation.bag_eval import evaluate_bag
    from fanet_ros.evaluation.make_bag import Frame, write_bag
    from fanet_ros.synthetic import generate_drive

    out: Path = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    if not args.model_path.is_file():
        print(f"demo: model '{args.model_path}' does not exist; pass --model-path", file=sys.stderr)
        return 1
    started = time.monotonic()
    print(f"[1/3] generating a {args.frames}-frame drive at {args.width}x{args.height}, "
          f"{args.fps:g} fps, and writing it as a rosbag2 ({args.storage})", flush=True)
    drive = generate_drive(args.seed, args.frames, args.height, args.width, fps=args.fps)
    bag = write_bag(
        (Frame(image, label, f"frame_{i:04d}") for i, (image, label) in enumerate(drive)),
        out / "drive_bag", fps=args.fps, storage=args.storage, overwrite=True,
    )
    node_params = {"model_path": str(args.model_path.resolve()), "num_threads": args.num_threads}
    reports = {}
    for step, rate in ((2, "lossless"), (3, "realtime")):
        what = "accuracy, every frame" if rate == "lossless" else "latency and drops at camera rate"
        print(f"[{step}/3] {rate}: starting segmentation_node and replaying the bag ({what})",
              flush=True)
        reports[rate] = evaluate_bag(
            bag.path, out / rate, rate=rate, start_node_params=node_params, progress=True
        )
    summary = summary_markdown(reports, args, time.monotonic() - started)
    (out / "summary.md").write_text(summary)
    print()
    print(summary)
    if args.readme is not None:
        write_readme_block(args.readme, summary, out / "lossless" / "frames.png", args)
    where = out.resolve()
    print(f"report written: {where / 'lossless' / 'report.md'} (accuracy), "
          f"{where / 'realtime' / 'report.md'} (latency), summary {where / 'summary.md'}")
    return 0


def summary_markdown(reports: dict, args: argparse.Namespace, seconds: float) -> str:
    """The demo's headline figures (what the README quotes)."""
    from fanet_ros.evaluation.report import percent, percentiles_text

    lossless, realtime = reports["lossless"], reports["realtime"]
    latency = realtime.latency_summary_ms()
    counts = realtime.counts
    lines = [
        "| figure | value |",
        "|---|---:|",
        f"| drive | {args.frames} frames, {args.width}x{args.height}, {args.fps:g} fps "
        f"(seed {args.seed}) |",
        f"| model | `{args.model_path.name}` |",
        f"| mIoU (lossless, {lossless.counts.matched} frames) | "
        f"{percent(lossless.mean_iou, 1, ' %')} |",
        f"| pixel accuracy | {percent(lossless.scores.pixel_accuracy, 1, ' %')} |",
        f"| latency p50 / p95 / p99 (realtime) | {percentiles_text(latency, ' / ')} ms |",
        f"| output rate (realtime) | {realtime.throughput_fps:.1f} fps |",
        f"| frames dropped (realtime) | {counts.dropped} of {counts.images_sent} |",
        f"| demo wall time | {seconds:.0f} s |",
    ]
    return "\n".join(lines) + "\n"


def write_readme_block(readme: Path, summary: str, frames_png: Path,
                       args: argparse.Namespace) -> None:
    """Put the demo's figures and its frames image into the README's ``demo`` block."""
    image = readme.parent / "docs" / "images" / "demo_frames.png"
    image.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(frames_png, image)
    command = "bash scripts/demo.sh" + (
        f" --frames {args.frames}" if args.frames != build_parser().get_default("frames") else ""
    )
    cores = len(os.sched_getaffinity(0))  # the CPUs this process may use
    content = "\n".join([
        f"What `{command}` printed on the machine it last ran on ({cores} CPU "
        f"cores, {cpu_model()}); regenerate this block with `bash scripts/demo.sh --readme "
        "README.md`:",
        "",
        summary,
        f"![input, ground truth, prediction, overlay](docs/images/{image.name})",
        "",
        "Columns: camera frame, ground truth, the node's `~/label` coloured, the node's "
        "`~/overlay`. The demo model is small and was trained on generated scenes only "
        "(its card: `fanet_ros/models/fanet_synthetic.md`).",
    ])
    update_file_block(readme, "demo", content)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``ros2 run fanet_ros demo`` and ``scripts/demo.sh``."""
    args = build_parser().parse_args(argv)
    use_local_ros_domain()
    from fanet_ros.evaluation.bag_eval import EvaluationError  # rclpy: after the domain is set
    from fanet_ros.evaluation.bag_io import BagError
    from fanet_ros.runtime.base import ModelLoadError

    try:
        with sigterm_unwinds():  # the node it started is stopped
            return run_demo(args)
    except (BagError, EvaluationError, ModelLoadError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, SystemExit) as exc:
        return interrupted("demo", exc)


if __name__ == "__main__":
    sys.exit(main())
