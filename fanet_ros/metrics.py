"""Segmentation metrics from one confusion matrix (Cityscapes definitions).

The single implementation used by training, offline evaluation, ``bag_eval``
and the live evaluator. Pure NumPy: no ROS, no TensorFlow.

Class IoU = TP / (TP + FP + FN) over the whole split, ignoring pixels whose
ground truth is the ignore label; classes that never occur in ground truth or
prediction are NaN and left out of the mean. A predicted id outside
``0..N-1`` counts as a miss of the ground-truth class and as nobody's false
positive (as cityscapesscripts treats predictions of ignored labels).
Category IoU sums the class matrix over each category (flat, construction...).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fanet_ros.labels import IGNORE_LABEL, LabelSet


class ConfusionMatrix:
    """Accumulates ``counts[gt, pred]``; column ``N`` holds out-of-range predictions.

    Ground truth that equals ``ignore_label``, or 255 (void in every label file and bag this
    package writes, and never a class id), is not counted.
    """

    def __init__(self, num_classes: int, ignore_label: int = IGNORE_LABEL) -> None:
        if num_classes < 1:
            raise ValueError("num_classes must be positive")
        self.num_classes = num_classes
        self.ignore_label = ignore_label
        self.counts = np.zeros((num_classes, num_classes + 1), dtype=np.int64)

    def update(self, ground_truth: np.ndarray, prediction: np.ndarray) -> None:
        """Add one frame (or a batch) of integer label maps of the same shape."""
        gt = np.asarray(ground_truth)
        pred = np.asarray(prediction)
        if gt.shape != pred.shape:
            raise ValueError(
                f"ground truth shape {gt.shape} != prediction shape {pred.shape}"
            )
        gt = gt.reshape(-1).astype(np.int64, copy=False)
        pred = pred.reshape(-1).astype(np.int64, copy=False)
        void = (gt == self.ignore_label) | (gt == IGNORE_LABEL)
        valid = (gt >= 0) & (gt < self.num_classes) & ~void
        bad_gt = ~valid & ~void
        if bad_gt.any():
            voids = sorted({self.ignore_label, IGNORE_LABEL})
            raise ValueError(
                f"ground truth holds ids outside 0..{self.num_classes - 1} and void "
                f"({' or '.join(map(str, voids))}): {np.unique(gt[bad_gt])[:10].tolist()}"
            )
        gt, pred = gt[valid], pred[valid]
        pred = np.where((pred >= 0) & (pred < self.num_classes), pred, self.num_classes)
        n = self.num_classes + 1
        self.counts += np.bincount(gt * n + pred, minlength=self.num_classes * n).reshape(
            self.num_classes, n
        )

    def merge(self, other: ConfusionMatrix) -> None:
        """Add another matrix of the same shape (e.g. from another worker)."""
        if other.counts.shape != self.counts.shape:
            raise ValueError("confusion matrices differ in shape")
        self.counts += other.counts

    def reset(self) -> None:
        self.counts[:] = 0

    @property
    def total_pixels(self) -> int:
        return int(self.counts.sum())

    def scores(self, label_set: LabelSet | None = None) -> SegmentationScores:
        """Per-class IoU, mean IoU, category IoU (if ``label_set`` has categories), accuracy."""
        return compute_scores(self.counts, label_set)


@dataclass
class SegmentationScores:
    """What one confusion matrix says about a model."""

    class_iou: np.ndarray
    """IoU per class; NaN for classes absent from both ground truth and prediction."""
    mean_iou: float
    category_iou: dict[str, float]
    mean_category_iou: float
    pixel_accuracy: float
    total_pixels: int

    def to_dict(self, class_names: tuple[str, ...] | list[str] | None = None) -> dict:
        names = list(class_names) if class_names else [str(i) for i in range(len(self.class_iou))]
        return {
            "mean_iou": _json_float(self.mean_iou),
            "pixel_accuracy": _json_float(self.pixel_accuracy),
            "class_iou": {n: _json_float(v) for n, v in zip(names, self.class_iou)},
            "category_iou": {k: _json_float(v) for k, v in self.category_iou.items()},
            "mean_category_iou": _json_float(self.mean_category_iou),
            "total_pixels": self.total_pixels,
        }

    def format_table(self, class_names: tuple[str, ...] | list[str] | None = None) -> str:
        """A Markdown table of per-class IoU followed by the summary figures."""
        names = list(class_names) if class_names else [str(i) for i in range(len(self.class_iou))]
        rows = ["| class | IoU (%) |", "|---|---:|"]
        rows += [f"| {n} | {_pct(v)} |" for n, v in zip(names, self.class_iou)]
        rows.append(f"| **mean** | **{_pct(self.mean_iou)}** |")
        for name, value in self.category_iou.items():
            rows.append(f"| category: {name} | {_pct(value)} |")
        if self.category_iou:
            rows.append(f"| **mean category** | **{_pct(self.mean_category_iou)}** |")
        rows.append(f"| pixel accuracy | {_pct(self.pixel_accuracy)} |")
        return "\n".join(rows)


def compute_scores(counts: np.ndarray, label_set: LabelSet | None = None) -> SegmentationScores:
    """Scores from a ``[N, N+1]`` (or ``[N, N]``) confusion matrix of counts."""
    counts = np.asarray(counts, dtype=np.int64)
    num_classes = counts.shape[0]
    square = counts[:, :num_classes]
    tp = np.diag(square).astype(np.float64)
    fn = counts.sum(axis=1) - tp
    fp = square.sum(axis=0) - tp
    denom = tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        class_iou = np.where(denom > 0, tp / np.maximum(denom, 1), np.nan)
    total = int(counts.sum())
    category_iou: dict[str, float] = {}
    if label_set is not None:
        for name, ids in label_set.categories.items():
            inside = list(ids)
            outside = [i for i in range(num_classes) if i not in ids]
            c_tp = square[np.ix_(inside, inside)].sum()
            c_fn = counts[inside].sum() - c_tp  # out-of-range predictions are misses too
            c_fp = square[np.ix_(outside, inside)].sum()
            c_denom = c_tp + c_fn + c_fp
            category_iou[name] = float(c_tp / c_denom) if c_denom > 0 else float("nan")
    return SegmentationScores(
        class_iou=class_iou,
        mean_iou=_nanmean(class_iou),
        category_iou=category_iou,
        mean_category_iou=_nanmean(np.array(list(category_iou.values()), dtype=np.float64)),
        pixel_accuracy=float(tp.sum() / total) if total else float("nan"),
        total_pixels=total,
    )


def _nanmean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else float("nan")


def _json_float(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _pct(value: float) -> str:
    return "n/a" if np.isnan(value) else f"{100.0 * value:.2f}"
