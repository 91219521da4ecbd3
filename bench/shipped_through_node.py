"""The shipped CamVid models through the running node, as a user scores them.

For each model, two rosbags written by ``fanet-make-bag`` (CamVid val, and the frames of
the held-out drive from train) are replayed by ``fanet-bag-eval --start-node`` (lossless):
the shipped ONNX on val (a drive it trained on), and the campaign twin's ``heldout.onnx``
(the same recipe trained without that drive; exported from its run folder with
``fanet-export`` when missing) on the held-out drive. mIoU, frames per second and latency
come from each evaluation's ``report.json``. The commands run as modules of this Python
(``fanet-make-bag`` is ``python -m fanet_ros.evaluation.make_bag``). Writes
``bench/results/shipped_through_node.json``; the README's models block shows it.

    python -m bench.shipped_through_node --camvid ../shared/data/camvid
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import REPO, module_command, portable_path, write_and_show
from fanet_ros.dataset_layouts import drive_samples, find_samples
from fanet_ros.shipped_models import resolve_model

UNITS = {"miou": "fraction of 1", "fps": "frames per second the node answered (lossless)",
         "latency_*_ms": "milliseconds from a frame's send to its label's arrival"}
TWINS = {"fanet_camvid": "campaign/fanet_schedule_300",
         "fsffnet_camvid": "campaign/fsffnet_schedule_300"}
"""Shipped model -> the campaign run of its recipe trained without the held-out drive."""


def drive_folder(camvid: Path, drive: str, folder: Path) -> Path:
    """A CamVid-layout folder whose train split holds only ``drive``'s frames (links)."""
    samples = drive_samples(find_samples(camvid, "camvid", "train"), (drive,))
    if not samples:
        raise SystemExit(f"no frames of drive {drive} in {camvid}'s train split")
    for split in ("train", "trainannot"):
        (folder / split).mkdir(parents=True)
    for sample in samples:
        for split, path in (("train", sample.image_path), ("trainannot", sample.label_path)):
            (folder / split / path.name).symlink_to(path.resolve())
    return folder


def make_bag(dataset: Path, split: str, bag: Path) -> Path:
    subprocess.run([sys.executable, "-m", "fanet_ros.evaluation.make_bag", str(dataset),
                    str(bag), "--layout", "camvid", "--split", split], check=True,
                   stdout=subprocess.DEVNULL)
    return bag


def twin_model(run: Path, work: Path) -> Path:
    """``run/heldout.onnx``, or its export into ``work`` when the run folder has none."""
    if (run / "heldout.onnx").is_file():
        return run / "heldout.onnx"
    if not run.is_dir():
        raise SystemExit(f"{run}: no such campaign run folder (give its twin with --twin)")
    onnx = work / run.name / "heldout.onnx"
    onnx.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "fanet_training.export_cli", str(run),
                    "--output", str(onnx)], check=True, stdout=subprocess.DEVNULL)
    return onnx


def evaluate(bag: Path, model: Path, output: Path) -> dict[str, Any]:
    """``fanet-bag-eval BAG --start-node`` with ``model``: the report's figures."""
    subprocess.run([sys.executable, "-m", "fanet_ros.evaluation.bag_eval", str(bag),
                    "-o", str(output), "--start-node", "--model-path", str(model),
                    "--no-progress"], check=True, stdout=subprocess.DEVNULL)
    report = json.loads((output / "report.json").read_text())
    latency = report["latency_ms"]
    return {"miou": report["scores"]["mean_iou"], "fps": report["throughput_fps"],
            "frames": report["frames"]["matched"],
            "latency_p50_ms": latency["p50"], "latency_p95_ms": latency["p95"]}


def render(data: dict[str, Any]) -> str:
    """The README's sentence: each model's val and held-out mIoU and its frame rate."""
    machine = data["machine"]
    parts = [f"{row['model']} {row['val']['miou'] * 100:.2f} % val, "
             f"{row['holdout']['miou'] * 100:.2f} % on {data['holdout_drive']} (its twin), "
             f"{row['val']['fps']:.0f} frames/s" for row in data["models"]]
    return (f"Through the node (`{data['command']}`: `fanet-bag-eval --start-node`, lossless, "
            f"{machine['cores']} cores of {machine['cpu']}, {machine['time'][:10]}): "
            + "; ".join(parts) + ".")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--camvid", type=Path, required=True, help="CamVid root (train, val)")
    parser.add_argument("--models", nargs="+", default=list(TWINS),
                        help="shipped model names or ONNX paths (default: %(default)s)")
    parser.add_argument("--twin", action="append", default=[], metavar="MODEL=RUN_DIR",
                        help="the run folder of MODEL's twin (default: the campaign's)")
    parser.add_argument("--holdout-drive", default="0006R0")
    parser.add_argument("--results-dir", type=Path)
    args = parser.parse_args(argv)
    twins = {**TWINS, **dict(item.split("=", 1) for item in args.twin)}
    rows = []
    with tempfile.TemporaryDirectory(prefix="shipped_through_node_") as tmp:
        work = Path(tmp)
        val_bag = make_bag(args.camvid, "val", work / "val_bag")
        drive = drive_folder(args.camvid, args.holdout_drive, work / "drive")
        holdout_bag = make_bag(drive, "train", work / "holdout_bag")
        for name in args.models:
            stem = Path(name).stem
            if stem not in twins:
                parser.error(f"{name}: no twin known; give one with --twin {stem}=RUN_DIR")
            run = REPO / twins[stem]
            rows.append({
                "model": stem,
                "val": evaluate(val_bag, resolve_model(name), work / f"{stem}_val"),
                "holdout": evaluate(holdout_bag, twin_model(run, work), work / f"{stem}_holdout"),
                "twin": portable_path(str(run)),
            })
    data = {"command": module_command("bench.shipped_through_node", argv),
            "holdout_drive": args.holdout_drive, "models": rows}
    write_and_show("shipped_through_node", data, args.results_dir, UNITS, render)
    return data


if __name__ == "__main__":
    main()
