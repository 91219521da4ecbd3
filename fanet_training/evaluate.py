"""``fanet-evaluate``: per-class IoU, mIoU, category IoU and pixel accuracy of trained weights.

Predicts every image of a split at the model's input size, resizes the
labels back to the ground truth's size (nearest) and sums one confusion
matrix (``fanet_ros.metrics``). Prints the table, writes ``metrics.json``,
``class_iou.png`` and ``confusion.png``.

Example::

    fanet-evaluate runs/fanet_camvid --dataset-root /data/camvid --split val --output-dir eval/
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from fanet_ros.dataset_layouts import (
    LAYOUTS,
    DatasetError,
    find_samples,
    label_set_for_layout,
    read_image,
    read_label,
)
from fanet_ros.labels import LabelSet
from fanet_ros.metrics import ConfusionMatrix, SegmentationScores
from fanet_ros.model_metadata import Normalization
from fanet_ros.preprocessing import model_input, resize_labels
from fanet_training import run_state


def evaluate(model, root: str, layout: str, split: str, height: int, width: int,
             normalization: Normalization | None = None,
             label_set: LabelSet | None = None) -> ConfusionMatrix:
    """Confusion matrix of ``model`` over a split, at the ground truth's resolution
    (``label_set``: the model's classes, default the layout's)."""
    label_set = label_set or label_set_for_layout(layout, root)
    matrix = ConfusionMatrix(label_set.num_classes, label_set.ignore_label)
    for sample in find_samples(root, layout, split):
        image = read_image(sample.image_path)
        truth = read_label(sample.label_path, layout, label_set.num_classes)
        batch = model_input(image, height, width, normalization or Normalization())[None]
        predicted = np.asarray(model.predict_on_batch(batch))[0].argmax(-1).astype(np.uint8)
        matrix.update(truth, resize_labels(predicted, *truth.shape))
    return matrix


def plot(scores: SegmentationScores, matrix: ConfusionMatrix, label_set: LabelSet,
         output_dir: Path) -> None:
    """``class_iou.png`` (bars) and ``confusion.png`` (row-normalised matrix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(label_set.class_names)
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(names)), 4))
    colors = [tuple(c / 255 for c in rgb) for rgb in label_set.colors]
    ax.bar(names, np.nan_to_num(scores.class_iou) * 100, color=colors, edgecolor="black")
    ax.axhline(scores.mean_iou * 100, linestyle="--", color="black",
               label=f"mIoU {100 * scores.mean_iou:.1f}%")
    ax.set_ylabel("IoU (%)")
    ax.set_ylim(0, 100)
    ax.legend()
    ax.tick_params(axis="x", rotation=60)
    fig.tight_layout()
    fig.savefig(output_dir / "class_iou.png", dpi=100)
    plt.close(fig)
    square = matrix.counts[:, : label_set.num_classes].astype(np.float64)
    rows = np.maximum(matrix.counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(0.45 * len(names) + 3, 0.45 * len(names) + 2))
    image = ax.imshow(square / rows, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=90)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    fig.colorbar(image, ax=ax, label="fraction of ground-truth pixels")
    fig.tight_layout()
    fig.savefig(output_dir / "confusion.png", dpi=100)
    plt.close(fig)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="run folder or .weights.h5 file")
    parser.add_argument("--dataset-root", required=True)
    parser.add_argument("--layout", choices=LAYOUTS, help="default: the run's")
    parser.add_argument("--model", help="default: the run's")
    parser.add_argument("--split", default="val")
    parser.add_argument("--height", type=int, help="input height (default: the run's)")
    parser.add_argument("--width", type=int, help="input width (default: the run's)")
    parser.add_argument("--output-dir", type=Path, required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config, weights = {}, args.source
    if weights.is_dir():
        weights = weights / run_state.BEST
    if (weights.parent / run_state.CONFIG).is_file():  # a run folder, or a file in one
        config = run_state.read_json(weights.parent / run_state.CONFIG)
    model_name, layout = args.model or config.get("model"), args.layout or config.get("layout")
    height, width = args.height or config.get("height"), args.width or config.get("width")
    if not (model_name and layout and height and width) or not weights.is_file():
        print(f"fanet-evaluate: error: need weights ('{weights}') and --model/--layout/--height/"
              "--width (or a run folder that records them)", file=sys.stderr)
        return 2
    if height % 32 or width % 32:
        print(f"fanet-evaluate: error: {height}x{width}: sides must be multiples of 32",
              file=sys.stderr)
        return 2
    from fanet_training.models import build_model

    try:
        scored = label_set_for_layout(layout, args.dataset_root)
        label_set = run_state.run_label_set(weights.parent, layout) if config else scored
        if layout == "folder" and scored.class_names != label_set.class_names:
            raise DatasetError(
                f"the model's classes ({', '.join(label_set.class_names[:3])}, ...) are not "
                f"the dataset's ({', '.join(scored.class_names[:3])}, ... of "
                f"'{args.dataset_root}'): they would be scored id for id")
        model = build_model(model_name, label_set.num_classes, (height, width, 3))
        model.load_weights(weights)
        matrix = evaluate(model, args.dataset_root, layout, args.split, height, width,
                          Normalization.from_dict(config.get("normalization")), label_set)
    except (DatasetError, ValueError) as exc:
        print(f"fanet-evaluate: error: {exc}", file=sys.stderr)
        return 2
    scores = matrix.scores(label_set)
    print(scores.format_table(label_set.class_names))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    report = {"model": model_name, "weights": str(weights), "dataset_root": args.dataset_root,
              "layout": layout, "split": args.split, "input_size": [height, width],
              **scores.to_dict(label_set.class_names),
              "confusion_matrix": matrix.counts.tolist()}
    (args.output_dir / "metrics.json").write_text(json.dumps(report, indent=2))
    plot(scores, matrix, label_set, args.output_dir)
    print(f"wrote metrics.json, class_iou.png and confusion.png to {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
