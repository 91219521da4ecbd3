"""Write generated scenes as a dataset folder that the training and bag tools read unchanged."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from fanet_ros.labels import IGNORE_LABEL
from fanet_ros.synthetic.scene import check_size, generate_scene

CAMVID_VOID = 11
"""CamVid annotations store void as 11 (fanet_ros.dataset_layouts maps it back to 255)."""
WRITERS = ("camvid", "folder")


def split_folders(root: Path, layout: str, split: str) -> tuple[Path, Path]:
    """(image folder, label folder) of a split in ``layout``."""
    if layout == "camvid":
        return root / split, root / f"{split}annot"
    if layout == "folder":
        return root / "images" / split, root / "labels" / split
    raise ValueError(f"cannot write layout {layout!r}; choose one of: {', '.join(WRITERS)}")


def scene_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of one dataset image: independent per seed, split and index."""
    return np.random.default_rng([seed, 0 if split == "train" else 1, index])


def write_dataset(root: str | Path, num_train: int, num_val: int, height: int = 360,
                  width: int = 480, seed: int = 0, layout: str = "camvid") -> Path:
    """Generate ``num_train`` + ``num_val`` scenes as PNG files under ``root``.

    ``layout="camvid"``: ``train/``, ``trainannot/``, ``val/``, ``valannot/`` with
    void stored as 11 (the CamVid SegNet files); ``layout="folder"``:
    ``images/{split}/`` and ``labels/{split}/`` with void stored as 255.
    Either is read by ``fanet_ros.dataset_layouts.find_samples(root, layout, split)``.
    """
    root = Path(root).expanduser()
    check_size(height, width)
    if min(num_train, num_val) < 0:
        raise ValueError(f"need num_train, num_val >= 0, got {num_train} and {num_val}")
    for split, count in (("train", num_train), ("val", num_val)):
        images, labels = split_folders(root, layout, split)
        images.mkdir(parents=True, exist_ok=True)
        labels.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            rgb, label = generate_scene(scene_rng(seed, split, index), height, width)
            if layout == "camvid":
                label = np.where(label == IGNORE_LABEL, CAMVID_VOID, label).astype(np.uint8)
            name = f"synth_{index:05d}.png"
            _write(images / name, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            _write(labels / name, label)
    return root


def _write(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), image):
        raise OSError(f"cannot write '{path}' (check that the folder is writable and has space)")
