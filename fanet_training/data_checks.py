"""Label checks before training: what each split's label files really hold.

Every label file of a split is read once, raw and decoded as the layout
defines (``fanet_ros.dataset_layouts.read_raw_label``, which refuses colour masks and
16-bit values past 255, and ``decode_label``), and its pixels counted as
valid (a class id the model learns), void (the layout's ignore value: 255, and
CamVid's 11, Cityscapes' ids without a train id) or out of range (anything
else: a wrong ``--layout``, colour-coded masks, labels of another dataset).
Out-of-range pixels are trained as void, so they are reported with a count and
an example file; a split without a single valid pixel stops the run, since its
loss or its mIoU would mean nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fanet_ros.dataset_layouts import DatasetError, Sample, decode_label, read_raw_label
from fanet_ros.labels import IGNORE_LABEL, LabelSet

CAMVID_VOID = 11
CITYSCAPES_LABEL_IDS = 34
"""Cityscapes labelIds run 0..33; those without a train id are void by definition."""


@dataclass
class SplitLabelCounts:
    """Pixel counts of one split's label files."""

    split: str
    files: int = 0
    valid: int = 0
    void: int = 0
    out_of_range: int = 0
    unreadable: list[str] = field(default_factory=list)
    example: tuple[Path, tuple[int, ...]] | None = None
    """A file with out-of-range pixels and (some of) the values it holds."""

    @property
    def pixels(self) -> int:
        return self.valid + self.void + self.out_of_range

    def summary(self, label_set: LabelSet) -> str:
        share = (lambda n: f"{100.0 * n / self.pixels:.2f} %") if self.pixels else str
        return (
            f"{self.split}: {self.files} label files, {share(self.valid)} valid (class ids "
            f"0..{label_set.num_classes - 1}), {share(self.void)} void "
            f"(ignore label {label_set.ignore_label}), {self.out_of_range} pixels out of range"
        )


def declared_void(raw: np.ndarray, layout: str, path: Path,
                  ignore_label: int = IGNORE_LABEL) -> np.ndarray:
    """Pixels whose raw value the layout defines as void (as opposed to out of range)."""
    if layout == "camvid":
        return (raw == CAMVID_VOID) | (raw == IGNORE_LABEL)
    if layout == "cityscapes" and path.name.endswith("_gtFine_labelIds.png"):
        return raw < CITYSCAPES_LABEL_IDS
    return (raw == IGNORE_LABEL) | (raw == ignore_label)


def count_label_file(path: Path, layout: str, label_set: LabelSet | None = None
                     ) -> tuple[int, int, int, tuple[int, ...]]:
    """``(valid, void, out_of_range, out-of-range values)`` of one label file (``label_set``:
    a ``folder`` dataset's own classes)."""
    raw = read_raw_label(path)
    decoded = decode_label(raw, path, layout, label_set.num_classes if label_set else None)
    unlearned = decoded == IGNORE_LABEL
    outside = unlearned & ~declared_void(raw, layout, path, label_set.ignore_label
                                         if label_set else IGNORE_LABEL)
    out_of_range = int(np.count_nonzero(outside))
    values = tuple(int(v) for v in np.unique(raw[outside])[:5]) if out_of_range else ()
    void = int(np.count_nonzero(unlearned)) - out_of_range
    return decoded.size - void - out_of_range, void, out_of_range, values


def count_split(
    samples: Sequence[Sample], layout: str, split: str, skip_unreadable: bool = False,
    workers: int = 2, label_set: LabelSet | None = None,
) -> SplitLabelCounts:
    """Count every label file of a split (in ``workers`` threads)."""
    counts = SplitLabelCounts(split)

    def one(sample: Sample) -> tuple[Sample, tuple | DatasetError]:
        try:
            return sample, count_label_file(Path(sample.label_path), layout, label_set)
        except DatasetError as exc:
            return sample, exc

    with ThreadPoolExecutor(max(1, workers)) as pool:
        for sample, result in pool.map(one, [s for s in samples if s.label_path is not None]):
            if isinstance(result, DatasetError):
                if not skip_unreadable:
                    raise result
                counts.unreadable.append(sample.name)
                continue
            valid, void, out_of_range, values = result
            counts.files += 1
            counts.valid += valid
            counts.void += void
            counts.out_of_range += out_of_range
            if out_of_range and counts.example is None:
                counts.example = (Path(sample.label_path), values)
    return counts


def check_splits(
    splits: Sequence[tuple[str, Sequence[Sample]]], layout: str, label_set: LabelSet,
    skip_unreadable: bool = False, workers: int = 2, log: Callable[[str], None] | None = None,
) -> list[SplitLabelCounts]:
    """Count each split, report it, warn about out-of-range labels; raise
    :class:`DatasetError` when a split has no valid pixel."""
    log = log or (lambda text: print(text, flush=True))
    reports = []
    for split, samples in splits:
        counts = count_split(samples, layout, split, skip_unreadable, workers, label_set)
        log(f"labels {counts.summary(label_set)}")
        if counts.out_of_range:
            path, values = counts.example  # type: ignore[misc]
            log(
                f"WARNING: {counts.out_of_range} label pixels of the {split} split are outside "
                f"the class range 0..{label_set.num_classes - 1} and not void; they are trained "
                f"as void (ignored). Example: '{path}' holds {', '.join(map(str, values))}. "
                f"Check --layout ({layout}) and that the files hold class ids, not colours."
            )
        if counts.valid == 0:
            example = f" e.g. '{counts.example[0]}'" if counts.example else ""
            raise DatasetError(
                f"the {split} split has no valid label pixel: its {counts.files} label files "
                f"hold only void ({counts.void} pixels) or values outside 0.."
                f"{label_set.num_classes - 1} ({counts.out_of_range} pixels){example}. Check "
                f"--layout ({layout}) and the label files; nothing could be learned or scored"
            )
        reports.append(counts)
    return reports
