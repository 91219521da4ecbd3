"""Accumulate scored frames: the confusion matrix and a few frames to show."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from fanet_ros.labels import LabelSet
from fanet_ros.metrics import ConfusionMatrix
from fanet_ros.preprocessing import resize_labels


@dataclass(frozen=True)
class FrameSample:
    """One evaluated frame kept for the report's picture grid."""

    stamp: str
    image: np.ndarray | None
    """``[H, W, 3]`` uint8 RGB input, when the evaluator saw it."""
    ground_truth: np.ndarray | None
    """At the prediction's size; ``None`` for a frame without ground truth."""
    prediction: np.ndarray


class FrameScorer:
    """Scores prediction / ground-truth pairs with :class:`fanet_ros.metrics.ConfusionMatrix`."""

    def __init__(self, label_set: LabelSet, max_samples: int = 4) -> None:
        self.label_set = label_set
        self.confusion = ConfusionMatrix(label_set.num_classes, label_set.ignore_label)
        self.samples: deque[FrameSample] = deque(maxlen=max_samples)
        self.frames = 0

    def add(
        self,
        ground_truth: np.ndarray,
        prediction: np.ndarray,
        sample: tuple[str, np.ndarray | None] | None = None,
    ) -> None:
        """Score one frame; ground truth is resized (nearest) to the prediction's size.

        ``sample`` = (stamp text, input image or None) keeps the frame for the report.
        """
        gt = resize_labels(ground_truth, prediction.shape[0], prediction.shape[1])
        self.confusion.update(gt, prediction)
        self.frames += 1
        if sample is not None:
            self.keep(FrameSample(sample[0], sample[1], gt, prediction))

    def keep(self, sample: FrameSample) -> None:
        """Keep ``sample`` for the report (the newest ``max_samples`` stay)."""
        self.samples.append(sample)
