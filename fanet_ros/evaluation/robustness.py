"""``fanet-robustness``: mIoU of a model on frames as they are and degraded.

Scores an exported model (through the same pipeline as the node) on the frames of a
dataset split, optionally only some drives (frame-name prefixes), clean and through each
degradation of ``fanet_ros.evaluation.corruptions``. Writes JSON and prints a Markdown
table, so a user sees how the model degrades before putting it on a robot.

Example::

    fanet-robustness fanet_camvid --dataset-root /data/camvid --split train \\
        --drives 0006R0 --output robustness.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from fanet_ros.dataset_layouts import (
    CLASSES_FILE,
    LAYOUTS,
    DatasetError,
    drive_samples,
    find_samples,
    label_set_for_layout,
    read_image,
    read_label,
)
from fanet_ros.evaluation.corruptions import CORRUPTIONS
from fanet_ros.evaluation.report import percent
from fanet_ros.metrics import ConfusionMatrix
from fanet_ros.runtime import ModelLoadError
from fanet_ros.segmenter import Segmenter

THIN_CLASSES = ("Pole", "SignSymbol", "Pedestrian", "Bicyclist",  # CamVid
                "pole", "traffic sign", "person", "rider", "bicycle")  # Cityscapes, BDD100K
"""The classes the table shows beside mIoU (small, and what the models miss most)."""


def robustness(segmenter: Segmenter, root: str, layout: str, split: str,
               drives: tuple[str, ...] = ()) -> dict:
    """``{"frames": n, "results": {corruption: scores dict}}`` over the chosen frames.

    The labels are read in the layout's classes (``folder``: its ``classes.json``, else the
    model's), which must be the model's: a model of other classes is refused, not scored id for
    id.
    """
    own = layout == "folder" and not (Path(root) / CLASSES_FILE).is_file()
    label_set = segmenter.metadata.label_set() if own else label_set_for_layout(layout, root)
    if segmenter.class_names != label_set.class_names:
        raise DatasetError(
            f"model '{segmenter.model_path.name}' segments {len(segmenter.class_names)} classes "
            f"({', '.join(segmenter.class_names[:3])}, ...), the {layout} layout's labels "
            f"{label_set.num_classes} ({', '.join(label_set.class_names[:3])}, ...): pass the "
            "--layout of the dataset the model was trained on")
    samples = find_samples(root, layout, split)
    if drives:
        samples = drive_samples(samples, drives)
    if not samples:
        raise DatasetError(f"no {split} frame in '{root}' starts with {' or '.join(drives)}")
    matrices = {name: ConfusionMatrix(label_set.num_classes, label_set.ignore_label)
                for name in CORRUPTIONS}
    for sample in samples:
        image = read_image(sample.image_path)
        truth = read_label(sample.label_path, layout, label_set.num_classes)
        for name, corrupt in CORRUPTIONS.items():
            labels = segmenter(np.ascontiguousarray(corrupt(image)), "rgb8").labels
            matrices[name].update(truth, labels)
    return {"frames": len(samples),
            "results": {name: m.scores(label_set).to_dict(label_set.class_names)
                        for name, m in matrices.items()}}


def markdown_table(report: dict) -> str:
    """One row per degradation: mIoU, pixel accuracy and the thin classes' IoU."""
    results = report["results"]
    present = next(iter(results.values()))["class_iou"] if results else {}
    thin = [c for c in THIN_CLASSES if c in present]  # those of the layout's classes
    rows = ["| input | mIoU (%) | pixel acc. (%) | " + " | ".join(thin) + " |",
            "|---|---:|---:|" + "---:|" * len(thin)]
    for name, scores in results.items():
        cells = [percent(scores["class_iou"].get(c), 1) for c in thin]
        rows.append(f"| {name} | {percent(scores['mean_iou'], 1)} | "
                    f"{percent(scores['pixel_accuracy'], 1)} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="shipped model name (fanet_camvid) or exported .onnx")
    parser.add_argument("--dataset-root", required=True)
    parser.add_argument("--layout", choices=LAYOUTS, default="camvid")
    parser.add_argument("--split", default="val")
    parser.add_argument("--drives", default="", metavar="PREFIX[,PREFIX]",
                        help="only frames whose names start with these (CamVid: the drive)")
    parser.add_argument("--backend", default="onnxruntime", choices=("onnxruntime", "auto",
                                                                      "tensorrt"))
    parser.add_argument("--output", type=Path, help="write the report as JSON here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    drives = tuple(d for d in args.drives.split(",") if d)
    try:
        with Segmenter(args.model, backend=args.backend,
                       device=-1 if args.backend == "onnxruntime" else 0) as segmenter:
            report = robustness(segmenter, args.dataset_root, args.layout, args.split, drives)
            report.update(model=Path(segmenter.model_path).name, split=args.split,
                          drives=list(drives), layout=args.layout)
    except (DatasetError, FileNotFoundError, ModelLoadError, ValueError) as exc:
        print(f"fanet-robustness: error: {exc}", file=sys.stderr)
        return 2
    print(markdown_table(report))
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
