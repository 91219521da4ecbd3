"""Input resolution -> CamVid val mIoU and CPU milliseconds, for one model, in one run.

Each size runs the model through :class:`fanet_ros.segmenter.Segmenter` on ONNX Runtime
(CPU), as the node does: the val frames (360x480) are resized to the model's input,
the labels come back at the annotations' resolution and are scored with
:mod:`fanet_ros.metrics`. Times are medians: ``inference`` is the ONNX Runtime run
alone, ``frame`` the whole ``Segmenter`` call (preprocessing, inference, labels at
360x480). Sizes alternate within each round, so a change of load on a shared CPU
hits all of them. Writes ``bench/results/resolution_<model>.json``, prints the
Markdown table and, with ``--card``, puts it into the model card. ``--holdout-model``
adds a column: the campaign's twin (the same recipe trained without a drive) scored on that
drive's frames at each size, the figure val cannot give (val's drive is trained on).

    python -m bench.resolution_table --camvid ../shared/data/camvid --model fanet_camvid --card
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import format_size, module_command, parse_size, write_results
from fanet_ros.dataset_layouts import drive_samples, find_samples, read_image, read_label
from fanet_ros.metrics import ConfusionMatrix
from fanet_ros.segmenter import Segmenter
from fanet_ros.shipped_models import resolve_model
from fanet_ros.tooling.markdown_blocks import update_file_block
from fanet_training.model_card import RESOLUTION_BLOCK, resolution_section

UNITS = {"*_ms": "milliseconds (median)", "val_miou, holdout_miou": "fraction of 1",
         "native_size, input, frame_size": "pixels, height x width"}
SIZES = ("256x352", "288x384", "384x512", "480x640")


def mean_iou(segmenter: Segmenter, samples: list) -> float:
    """Mean IoU over ``samples``, labels at the annotations' resolution."""
    matrix = ConfusionMatrix(segmenter.metadata.num_classes, segmenter.metadata.ignore_label)
    for sample in samples:
        truth = read_label(sample.label_path, "camvid")
        matrix.update(truth, segmenter(read_image(sample.image_path), "rgb8").labels)
    return matrix.scores().mean_iou


def timings(segmenters: dict[str, Segmenter], frame: np.ndarray, rounds: int,
            runs: int) -> dict[str, dict[str, float]]:
    """Median inference and whole-frame ms per size; sizes alternate in every round."""
    samples: dict[str, dict[str, list[float]]] = {
        size: {"inference": [], "frame": []} for size in segmenters}
    batches = {size: np.zeros((1, *parse_size(size), 3), np.float32) for size in segmenters}
    for _ in range(rounds):
        for size, segmenter in segmenters.items():
            segmenter(frame, "rgb8")  # one discarded run: caches and buffers warm
            for _ in range(runs):
                start = time.perf_counter()
                segmenter.backend.infer(batches[size])
                middle = time.perf_counter()
                segmenter(frame, "rgb8")
                end = time.perf_counter()
                samples[size]["inference"].append(1000 * (middle - start))
                samples[size]["frame"].append(1000 * (end - middle))
    return {size: {kind: statistics.median(values) for kind, values in kinds.items()}
            for size, kinds in samples.items()}


def holdout_miou(args: argparse.Namespace) -> tuple[int, dict[str, float]]:
    """``(frames, {size: mIoU})``: the held-out model on the held-out drives' frames (CamVid
    train), labels at the annotations' resolution as for val."""
    drives = tuple(d for d in args.holdout_drives.split(",") if d)
    samples = drive_samples(find_samples(args.camvid, "camvid", "train"), drives)
    if not samples:
        raise SystemExit(f"--holdout-drives {args.holdout_drives}: no frame of "
                         f"'{args.camvid}/train' starts with {' or '.join(drives)}")
    miou = {}
    for text in args.sizes:
        height, width = parse_size(text)
        with Segmenter(args.holdout_model, backend="onnxruntime", device=-1,
                       input_height=height, input_width=width,
                       num_threads=args.threads) as segmenter:
            miou[format_size((height, width))] = mean_iou(segmenter, samples)
    return len(samples), miou


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--camvid", type=Path, required=True, help="CamVid root (val split)")
    parser.add_argument("--model", default="fanet_camvid", help="shipped name or .onnx path")
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), help="HxW, multiples of 32")
    parser.add_argument("--val-frames", type=int, default=0, help="0: the whole val split")
    parser.add_argument("--holdout-model", type=Path,
                        help="the same recipe trained without --holdout-drives (the campaign's "
                             "twin, e.g. campaign/fanet_schedule/heldout.onnx): adds its mIoU "
                             "on those drives' frames per size")
    parser.add_argument("--holdout-drives", default="0006R0", metavar="PREFIX[,PREFIX]",
                        help="drives (frame-name prefixes) of CamVid's train split")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per size and round")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads, 0: default")
    parser.add_argument("--results-dir", type=Path, default=None,
                        help="where resolution_<model>.json goes (default bench/results)")
    parser.add_argument("--card", action="store_true",
                        help="write the table into the model card (<model>.md beside the .onnx)")
    args = parser.parse_args(argv)

    model_path = resolve_model(args.model)
    samples = find_samples(args.camvid, "camvid", "val")[: args.val_frames or None]
    segmenters = {}
    for text in args.sizes:
        height, width = parse_size(text)
        segmenters[format_size((height, width))] = Segmenter(
            model_path, backend="onnxruntime", device=-1, input_height=height,
            input_width=width, num_threads=args.threads)
    metadata = next(iter(segmenters.values())).metadata
    miou = {size: mean_iou(segmenter, samples) for size, segmenter in segmenters.items()}
    frames, holdout = holdout_miou(args) if args.holdout_model else (0, {})
    frame = read_image(samples[0].image_path)
    times = timings(segmenters, frame, args.rounds, args.runs)
    data = {
        "benchmark": "resolution_table",
        "command": module_command("bench.resolution_table", argv),
        "model": model_path.name,
        "native_size": format_size((metadata.input_height, metadata.input_width)),
        "val_frames": len(samples),
        "frame_size": format_size(frame.shape[:2]),
        "onnxruntime_threads": args.threads,
        "rounds": args.rounds, "runs": args.runs,
        "sizes": [{"input": size, "val_miou": miou[size],
                   **({"holdout_miou": holdout[size]} if holdout else {}),
                   **{f"{kind}_ms": value for kind, value in times[size].items()}}
                  for size in segmenters],
    }
    if holdout:
        data["holdout"] = {"model": str(args.holdout_model), "drives": args.holdout_drives,
                           "frames": frames}
    path = write_results(f"resolution_{model_path.stem}", data, args.results_dir, UNITS)
    section = resolution_section(json.loads(path.read_text()))  # with the machine's facts
    print(section)
    print(f"\nwrote {path}")
    if args.card:
        card = model_path.with_suffix(".md")
        update_file_block(card, RESOLUTION_BLOCK, section)
        print(f"updated {card}")
    for segmenter in segmenters.values():
        segmenter.close()
    return data


if __name__ == "__main__":
    main()
