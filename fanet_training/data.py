"""Training and validation batches from the dataset folders of ``fanet_ros.dataset_layouts``.

:class:`SegmentationDataset` is a ``keras.utils.PyDataset``: backend-agnostic
(TensorFlow or JAX), decoded with OpenCV in worker threads, with an optional
in-memory cache of decoded images. The model sees what the node feeds it:
RGB resized with ``fanet_ros.preprocessing.resize_image`` and normalised by
``DataConfig.normalization`` (default ``x / 255``; the model's metadata carries it).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np

from fanet_ros.dataset_layouts import (
    DatasetError,
    Sample,
    drive_samples,
    find_samples,
    label_set_for_layout,
    read_image,
    read_label,
)
from fanet_ros.labels import LabelSet
from fanet_ros.model_metadata import Normalization
from fanet_ros.preprocessing import model_input, resize_labels
from fanet_training.augment import AugmentConfig, augment, half_of_the_classes, paste_objects

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataConfig:
    root: str
    layout: str
    height: int
    width: int
    batch_size: int = 8
    workers: int = 2
    cache: bool = False
    """Keep decoded images in memory (CamVid's 468 images take ~250 MB)."""
    skip_corrupt: bool = False
    """Skip unreadable images (counted in ``skipped``) instead of stopping with an error."""
    seed: int = 0
    crop: tuple[int, int] | None = None
    """Training batches are random ``(h, w)`` crops at the scale of ``height x width``."""
    normalization: Normalization = Normalization()
    """Pixels -> model input; fanet-export writes it into the model's metadata."""
    augment: AugmentConfig = AugmentConfig()
    """The training augmentation (``fanet_training.augment.PRESETS``)."""
    targets: int = 1
    """Copies of the labels per batch: one per model output (deep supervision adds outputs)."""
    copy_paste: float = 0.0
    """Probability that a training frame gets ``paste_classes`` pasted from another one."""
    paste_classes: tuple[int, ...] = ()
    """Class ids that copy-paste carries over (:func:`fanet_training.augment.paste_objects`)."""
    class_mix: float = 0.0
    """Probability that a training frame gets a random half of another frame's classes
    pasted over it (ClassMix: :func:`fanet_training.augment.half_of_the_classes`)."""


def split_by_drive(samples: list[Sample], drives: tuple[str, ...]
                   ) -> tuple[list[Sample], list[Sample]]:
    """``(samples of other drives, samples of drives)``: a CamVid frame's name starts
    with its drive (``0006R0_f01230``)."""
    held = drive_samples(samples, drives) if drives else []
    names = {s.name for s in held}
    return [s for s in samples if s.name not in names], held


class SegmentationDataset(keras.utils.PyDataset):
    """Batches ``(images [B,H,W,3] float32, labels [B,H,W] uint8)`` of one split."""

    def __init__(self, config: DataConfig, split: str, training: bool,
                 samples: list[Sample] | None = None,
                 teacher: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        """``teacher``: training batches add its output on the batch's images as one more
        target (``fanet-train --distill-from``, :class:`fanet_training.distill.Teacher`)."""
        super().__init__(workers=config.workers, use_multiprocessing=False,
                         max_queue_size=max(2, 2 * config.workers))
        self.config = config
        self.split = split
        self.training = training
        self.samples = samples if samples is not None else find_samples(
            config.root, config.layout, split)
        self.label_set: LabelSet = label_set_for_layout(config.layout, config.root)
        self.teacher = teacher if training else None
        self.skipped: set[str] = set()
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._epoch = 0
        self._order = self._shuffled_order()
        self._steps_limit: int | None = None

    def __len__(self) -> int:
        # Training drops the last partial batch (steady shapes for BN and replicas).
        count = len(self.samples) / self.config.batch_size
        if not self.training:
            return math.ceil(count)
        batches = max(1, int(count))
        return min(batches, self._steps_limit or batches)

    def limit_steps(self, steps: int | None) -> None:
        """Epochs of the first ``steps`` batches of each epoch's order (``--steps-per-epoch``).

        Kept here rather than in ``fit(steps_per_epoch=)``: Keras then keeps one iterator
        across epochs, whose worker threads build the next epoch's first batch before the
        reshuffle, so a resumed run (with no such batch left over) trained on others.
        """
        self._steps_limit = steps

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray | tuple]:
        size = self.config.batch_size
        ids = self._order[index * size:(index + 1) * size]
        rng = np.random.default_rng((self.config.seed, self._epoch, index))
        pairs = [pair for i in ids if (pair := self._load(int(i), rng)) is not None]
        if not pairs:
            raise DatasetError(f"every image of batch {index} ({self.split}) was unreadable")
        while self.training and len(pairs) < size:  # refill after skipped files
            pair = self._load(int(rng.integers(len(self.samples))), rng)
            if pair is not None:
                pairs.append(pair)
        images, labels = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
        if not self.training:
            return images, labels
        targets = (labels,) * self.config.targets
        if self.teacher is not None:
            targets += (self.teacher(images),)
        return images, targets if len(targets) > 1 else labels

    def start_at_epoch(self, epoch: int) -> None:
        """Continue the shuffling sequence of a resumed run from ``epoch``."""
        self._epoch = epoch
        self._order = self._shuffled_order()

    def on_epoch_end(self) -> None:
        self._epoch += 1
        self._order = self._shuffled_order()

    def _shuffled_order(self) -> np.ndarray:
        order = np.arange(len(self.samples))
        if self.training:
            np.random.default_rng((self.config.seed, self._epoch)).shuffle(order)
        return order

    def _load(self, i: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
        try:
            image, labels = self._decoded(i)
        except DatasetError as exc:
            if not self.config.skip_corrupt:
                raise
            if self.samples[i].name not in self.skipped:
                self.skipped.add(self.samples[i].name)
                LOG.warning("skipping (%d so far): %s", len(self.skipped), exc)
            return None
        height, width = self.config.height, self.config.width
        if self.training:
            if self.config.paste_classes:  # copy-paste: the rare classes
                image, labels = self._pasted(image, labels, rng, self.config.copy_paste,
                                             lambda _: self.config.paste_classes)
            image, labels = self._pasted(image, labels, rng, self.config.class_mix,
                                         lambda donor: half_of_the_classes(donor, rng))
            return augment(image, labels, height, width, self.config.augment, rng,
                           self.config.crop, self.config.normalization)
        pixels = model_input(image, height, width, self.config.normalization)
        return pixels, resize_labels(labels, height, width)

    def _pasted(self, image: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                probability: float, classes_of: Callable[[np.ndarray], tuple[int, ...]]
                ) -> tuple[np.ndarray, np.ndarray]:
        """With ``probability``, the pixels of ``classes_of(donor labels)`` of another training
        frame pasted over the frame (:func:`paste_objects`); an unreadable donor pastes nothing."""
        if probability and rng.random() < probability:
            donor = self._donor(rng)
            if donor is not None:
                return paste_objects(image, labels, *donor, classes_of(donor[1]), rng)
        return image, labels

    def _donor(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
        """Another training frame for copy-paste (``None`` if it was skipped as unreadable)."""
        i = int(rng.integers(len(self.samples)))
        try:
            return self._decoded(i)
        except DatasetError:
            if not self.config.skip_corrupt:
                raise
            return None

    def _decoded(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if i in self._cache:
            return self._cache[i]
        sample = self.samples[i]
        image = read_image(sample.image_path)
        labels = read_label(sample.label_path, self.config.layout, self.label_set.num_classes)
        if image.shape[:2] != labels.shape:
            raise DatasetError(
                f"image '{sample.image_path}' is {image.shape[1]}x{image.shape[0]} but its "
                f"label '{sample.label_path}' is {labels.shape[1]}x{labels.shape[0]}"
            )
        if self.config.cache:
            self._cache[i] = (image, labels)
        return image, labels
