"""Cross-entropy that ignores the void label (optionally with online hard example mining),
the Lovász-softmax surrogate of per-class IoU, and the distillation loss towards a teacher's
class probabilities."""

from __future__ import annotations

import math

import keras
from keras import ops

from fanet_ros.labels import IGNORE_LABEL


def one_value_per_replica(value):
    """A loss already averaged over a replica's batch, as a ``(1,)`` tensor: Keras passes a
    scalar loss through unscaled, but divides this one by the number of replicas, so the
    gradients MirroredStrategy sums over N GPUs average instead of growing N-fold."""
    return ops.reshape(value, (1,))


@keras.saving.register_keras_serializable(package="fanet_training")
class SegmentationCrossEntropy(keras.losses.Loss):
    """Mean pixel cross-entropy over labelled pixels.

    ``y_pred`` is the class logits with ``from_logits=True`` (what ``fanet-train``
    uses: one log-softmax, no probabilities materialised), else the softmax output.
    ``class_weights`` weights each pixel by its true class (e.g. median-frequency
    balancing); the mean is then over the weights, as in SegNet.
    With ``ohem_threshold`` set, only hard pixels count: those whose true-class
    probability is below the threshold, and at least the ``ohem_min_kept``
    hardest pixels of the batch.
    """

    def __init__(self, ignore_label: int = IGNORE_LABEL, ohem_threshold: float | None = None,
                 ohem_min_kept: int = 100_000, from_logits: bool = False,
                 class_weights: list[float] | None = None,
                 name: str = "segmentation_cross_entropy", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.ignore_label = ignore_label
        self.ohem_threshold = ohem_threshold
        self.ohem_min_kept = ohem_min_kept
        self.from_logits = from_logits
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]

    def call(self, y_true, y_pred):
        labels = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        scores = ops.reshape(ops.cast(y_pred, "float32"), (-1, ops.shape(y_pred)[-1]))
        valid = ops.not_equal(labels, self.ignore_label)
        safe_labels = ops.where(valid, labels, 0)
        pixel_loss = ops.sparse_categorical_crossentropy(safe_labels, scores,
                                                         from_logits=self.from_logits)
        weights = ops.cast(valid, "float32")
        if self.class_weights is not None:
            weights = weights * ops.take(ops.convert_to_tensor(self.class_weights, "float32"),
                                         safe_labels)
        if self.ohem_threshold is not None:
            weights = weights * self._hard_pixels(pixel_loss, valid)
        return one_value_per_replica(
            ops.sum(pixel_loss * weights) / ops.maximum(ops.sum(weights), 1e-6))

    def _hard_pixels(self, pixel_loss, valid):
        """1.0 for pixels above the hard-loss threshold, lowered to keep ``min_kept`` pixels."""
        masked = ops.where(valid, pixel_loss, -1.0)
        pixels = masked.shape[0]
        kept = self.ohem_min_kept if pixels is None else min(self.ohem_min_kept, pixels)
        kth_largest = ops.top_k(masked, kept, sorted=True)[0][-1]
        threshold = ops.minimum(-math.log(self.ohem_threshold), kth_largest)
        return ops.stop_gradient(ops.cast(ops.greater_equal(pixel_loss, threshold), "float32"))

    def get_config(self) -> dict:
        return {**super().get_config(), "ignore_label": self.ignore_label,
                "ohem_threshold": self.ohem_threshold, "ohem_min_kept": self.ohem_min_kept,
                "from_logits": self.from_logits, "class_weights": self.class_weights}


@keras.saving.register_keras_serializable(package="fanet_training")
class LovaszSoftmax(keras.losses.Loss):
    """Lovász-softmax (Berman et al., CVPR 2018) on logits: the convex surrogate of each
    class's Jaccard loss (1 - IoU) over the batch's labelled pixels, averaged over the
    classes the batch holds. Unlike cross-entropy it charges false positives and misses
    of a class in proportion to that class's IoU, so over-predicted classes pay too.

    ``stride`` scores every ``stride``-th pixel in each direction: the per-class sort over
    the batch's pixels dominates the cost (2 quarters it).
    """

    def __init__(self, ignore_label: int = IGNORE_LABEL, stride: int = 2,
                 name: str = "lovasz_softmax", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        if stride < 1:
            raise ValueError(f"stride {stride}: must be at least 1")
        self.ignore_label = ignore_label
        self.stride = stride

    def call(self, y_true, y_pred):
        logits = ops.cast(y_pred, "float32")
        classes = logits.shape[-1]
        labels = ops.reshape(ops.cast(y_true, "int32"), ops.shape(logits)[:-1])
        if self.stride > 1:
            labels = labels[:, ::self.stride, ::self.stride]
            logits = logits[:, ::self.stride, ::self.stride, :]
        labels = ops.reshape(labels, (-1,))
        probabilities = ops.reshape(ops.softmax(logits, axis=-1), (-1, classes))
        valid = ops.cast(ops.not_equal(labels, self.ignore_label), "float32")[:, None]
        truth = ops.one_hot(ops.where(valid[:, 0] > 0, labels, 0), classes) * valid
        # per class (rows), pixels sorted by error, largest first; void pixels have error 0
        errors = ops.transpose(ops.abs(truth - probabilities) * valid)
        order = ops.argsort(-ops.stop_gradient(errors), axis=-1)
        errors = ops.take_along_axis(errors, order, axis=-1)
        truth = ops.take_along_axis(ops.transpose(truth), order, axis=-1)
        per_class = ops.sum(errors * ops.stop_gradient(jaccard_steps(truth)), axis=-1)
        present = ops.cast(ops.sum(truth, axis=-1) > 0, "float32")
        return one_value_per_replica(
            ops.sum(per_class * present) / ops.maximum(ops.sum(present), 1.0))

    def get_config(self) -> dict:
        return {**super().get_config(), "ignore_label": self.ignore_label,
                "stride": self.stride}


def jaccard_steps(truth_sorted):
    """Lovász extension's weights: how much each pixel, in error order, adds to the
    class's Jaccard loss when it and all before it are wrong (``[classes, pixels]``)."""
    total = ops.sum(truth_sorted, axis=-1, keepdims=True)
    intersection = total - ops.cumsum(truth_sorted, axis=-1)
    union = total + ops.cumsum(1.0 - truth_sorted, axis=-1)
    jaccard = 1.0 - intersection / union
    return ops.concatenate([jaccard[:, :1], jaccard[:, 1:] - jaccard[:, :-1]], axis=-1)


@keras.saving.register_keras_serializable(package="fanet_training")
class DistillationLoss(keras.losses.Loss):
    """Mean pixel KL divergence from a teacher's class probabilities (``y_true``,
    ``fanet_training.distill.Teacher``) to the softmax of the student's logits (``y_pred``).

    Every pixel counts, void ones too: the teacher has an opinion where the labels have none.
    """

    def __init__(self, name: str = "distillation", **kwargs) -> None:
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        target = ops.cast(y_true, "float32")
        log_student = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        log_target = ops.log(ops.maximum(target, 1e-8))
        return one_value_per_replica(
            ops.mean(ops.sum(target * (log_target - log_student), axis=-1)))
