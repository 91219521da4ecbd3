"""A dataset re-encoded for a GPU pack: JPEG images, PNG class-id labels, in a layout
``fanet_ros.dataset_layouts`` reads.

The labels are decoded with the source layout's rules (``read_label``: class
ids, 255 = void) and written as they are, so they read back identically.
CamVid-class datasets become the ``folder`` layout (``images/{split}/x.jpg`` +
``labels/{split}/x.png``, matched by stem): the ``camvid`` layout pairs an
image with the label of the same file name, which a ``.jpg`` image cannot have.
BDD100K keeps its own layout (it already pairs JPEG images with PNG masks).
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fanet_ros.dataset_layouts import (
    CLASSES_FILE,
    DatasetError,
    Sample,
    find_samples,
    label_set_for_layout,
    read_image,
    read_label,
)
from fanet_ros.preprocessing import resize_image, resize_labels

PACK_LAYOUTS = {"camvid": "folder", "folder": "folder", "bdd100k": "bdd100k"}
"""Source layout -> the layout of its re-encoded copy."""
SPLITS = ("train", "val")


@dataclass(frozen=True)
class EncodeOptions:
    jpeg_quality: int = 95
    max_width: int | None = None
    """Shrink wider images (area) and labels (nearest) to this width; default: keep the size."""
    threads: int = max(1, os.cpu_count() or 1)


def pack_paths(layout: str, split: str, name: str) -> tuple[Path, Path]:
    """Relative image and label paths of one sample in the re-encoded layout."""
    if layout == "bdd100k":
        return (Path("images", "10k", split, f"{name}.jpg"),
                Path("labels", "sem_seg", "masks", split, f"{name}.png"))
    return Path("images", split, f"{name}.jpg"), Path("labels", split, f"{name}.png")


def pack_layout(source_layout: str) -> str:
    """The layout the pack's copy of a ``source_layout`` dataset uses."""
    if source_layout not in PACK_LAYOUTS:
        raise DatasetError(
            f"layout {source_layout!r} cannot go into a GPU pack (its files must stay PNG, and "
            f"its size does not fit); supported: {', '.join(PACK_LAYOUTS)}")
    return PACK_LAYOUTS[source_layout]


def _shrink(image: np.ndarray, labels: np.ndarray, max_width: int | None
            ) -> tuple[np.ndarray, np.ndarray]:
    height, width = labels.shape
    if not max_width or width <= max_width:
        return image, labels
    new_height = max(1, round(height * max_width / width))
    return resize_image(image, new_height, max_width), resize_labels(labels, new_height, max_width)


def _encode_one(sample: Sample, source_layout: str, dest: Path, layout: str, split: str,
                options: EncodeOptions, num_classes: int) -> int:
    image, labels = _shrink(read_image(sample.image_path),
                            read_label(sample.label_path, source_layout, num_classes),
                            options.max_width)
    image_rel, label_rel = pack_paths(layout, split, sample.name)
    written = 0
    for rel, ext, pixels, params in (
            (image_rel, ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
             [cv2.IMWRITE_JPEG_QUALITY, options.jpeg_quality]),
            (label_rel, ".png", labels, [cv2.IMWRITE_PNG_COMPRESSION, 9])):
        ok, encoded = cv2.imencode(ext, pixels, params)
        if not ok:
            raise DatasetError(f"cannot encode '{sample.image_path}' as {ext}")
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(encoded.tobytes())
        written += encoded.size
    if not np.array_equal(read_label(dest / label_rel, layout, num_classes), labels):
        raise DatasetError(f"re-encoded label '{dest / label_rel}' does not read back as written")
    return written


def reencode(root: str | Path, source_layout: str, dest: Path,
             options: EncodeOptions = EncodeOptions(), splits: tuple[str, ...] = SPLITS
             ) -> dict:
    """Write ``splits`` of the dataset at ``root`` into ``dest``; returns what was written."""
    layout = pack_layout(source_layout)
    num_classes = label_set_for_layout(source_layout, root).num_classes
    if source_layout == "folder" and (Path(root) / CLASSES_FILE).is_file():  # its own classes
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(root) / CLASSES_FILE, dest / CLASSES_FILE)
    counts, total = {}, 0
    with ThreadPoolExecutor(options.threads) as pool:
        for split in splits:
            samples = find_samples(root, source_layout, split)
            total += sum(pool.map(lambda s, split=split: _encode_one(
                s, source_layout, dest, layout, split, options, num_classes), samples))
            found = find_samples(dest, layout, split)
            if len(found) != len(samples):
                raise DatasetError(f"the re-encoded {split} split has {len(found)} samples, "
                                   f"the source {len(samples)}")
            counts[split] = len(samples)
    return {"layout": layout, "source_layout": source_layout, "splits": counts,
            "bytes": total, "jpeg_quality": options.jpeg_quality,
            "max_width": options.max_width}
