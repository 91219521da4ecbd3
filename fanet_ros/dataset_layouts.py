"""Dataset folder layouts: which image goes with which label, and how labels are decoded.

Pure NumPy/OpenCV, shared by training (``fanet_training``) and the bag tools,
so a label means the same thing everywhere. Labels come out as ``[H, W]``
uint8 class ids with 255 for void.

Layouts:
- ``camvid``: SegNet split, ``{split}/*.png`` + ``{split}annot/*.png`` (11 = void).
- ``cityscapes``: ``leftImg8bit/{split}/{city}/*_leftImg8bit.png`` +
  ``gtFine/{split}/{city}/*_gtFine_labelIds.png`` (mapped to train ids with the
  official table from ``cityscapesscripts``) or ``*_gtFine_labelTrainIds.png``.
- ``bdd100k``: ``images/10k/{split}/*.jpg`` + ``labels/sem_seg/masks/{split}/*.png``
  (or ``labels/{split}/*_train_id.png``), train ids already.
- ``folder``: ``images/{split}/*`` + ``labels/{split}/*`` matched by file stem;
  labels hold class ids, 255 = void. The classes are those of ``classes.json`` in the
  dataset folder (:func:`read_classes_file`), else CamVid's 11.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fanet_ros.labels import IGNORE_LABEL, LabelSet, get_label_set

LAYOUTS = ("camvid", "cityscapes", "bdd100k", "folder")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


class DatasetError(ValueError):
    """A dataset folder or file that cannot be read; the message names it."""


@dataclass(frozen=True)
class Sample:
    """One image and (when known) its label file."""

    name: str
    image_path: Path
    label_path: Path | None


CLASSES_FILE = "classes.json"
"""A ``folder`` dataset's own classes, beside ``images/`` and ``labels/``; a training run
copies it into its folder, where export, evaluation and ``--init-from`` read it."""


def label_set_for_layout(layout: str, root: str | Path | None = None) -> LabelSet:
    """The classes a layout's labels use: ``folder`` takes ``root``'s ``classes.json``
    where there is one, else CamVid's."""
    if layout == "folder" and root is not None and (Path(root) / CLASSES_FILE).is_file():
        return read_classes_file(Path(root) / CLASSES_FILE)
    return get_label_set("camvid" if layout == "folder" else layout)


def read_classes_file(path: Path) -> LabelSet:
    """A class table: ``{"names": [...], "colors": [[r, g, b], ...], "ignore_label": 255,
    "name": "..."}``; ``colors`` (default: a fixed palette), ``ignore_label`` (255) and
    ``name`` (the folder's name) may be left out."""
    try:
        table = json.loads(path.read_text())
        names = tuple(str(n) for n in table["names"])
        colors = tuple(tuple(int(v) for v in c) for c in table.get("colors") or
                       default_colors(len(names)))
        return LabelSet(name=str(table.get("name") or path.parent.name), class_names=names,
                        colors=colors, ignore_label=int(table.get("ignore_label", IGNORE_LABEL)))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise DatasetError(
            f"class table '{path}' cannot be used ({type(exc).__name__}: {exc}); it holds "
            '{"names": ["road", "grass", ...], "colors": [[128, 64, 128], ...] (optional), '
            '"ignore_label": 255 (optional)}') from None


def write_classes_file(label_set: LabelSet, path: Path) -> None:
    """``label_set`` as :func:`read_classes_file` reads it."""
    path.write_text(json.dumps({"name": label_set.name, "names": list(label_set.class_names),
                                "colors": [list(c) for c in label_set.colors],
                                "ignore_label": label_set.ignore_label}, indent=2) + "\n")


def default_colors(count: int) -> list[tuple[int, int, int]]:
    """Distinct RGB colours for ``count`` classes (hues around the circle, two brightnesses)."""
    hsv = np.array([[[int(180 * i / max(count, 1)), 200, 255 - 80 * (i % 2)]
                     for i in range(count)]], np.uint8)
    return [tuple(int(v) for v in c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0]]


def find_samples(root: str | Path, layout: str, split: str = "train",
                 require_labels: bool = True) -> list[Sample]:
    """All samples of a split, sorted by name; raises :class:`DatasetError` when none."""
    root = Path(root).expanduser()
    if layout not in LAYOUTS:
        raise DatasetError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")
    if not root.is_dir():
        raise DatasetError(f"dataset folder '{root}' does not exist")
    samples = _FINDERS[layout](root, split)
    if require_labels:
        missing = [s.image_path for s in samples if s.label_path is None]
        if missing:
            raise DatasetError(
                f"{len(missing)} images in '{root}' ({layout}, {split}) have no label file, "
                f"e.g. '{missing[0]}'"
            )
    if not samples:
        raise DatasetError(f"no {split} images found in '{root}' for layout {layout!r}")
    return samples


def drive_samples(samples: list[Sample], drives: tuple[str, ...]) -> list[Sample]:
    """The samples of ``drives`` (maybe none): a CamVid frame's name starts with its drive
    (``0006R0_f01230``)."""
    return [s for s in samples if s.name.startswith(drives)]


def read_image(path: str | Path) -> np.ndarray:
    """``[H, W, 3]`` uint8 RGB as stored; raises :class:`DatasetError` naming an unreadable
    file. A JPEG's EXIF orientation is ignored: label files carry none, so rotating the
    image alone would misalign the pair."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise DatasetError(f"cannot read image '{path}' (missing, corrupt or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_label(path: str | Path, layout: str, num_classes: int | None = None) -> np.ndarray:
    """``[H, W]`` uint8 class ids, 255 = void, decoded as the layout defines (``num_classes``:
    a ``folder`` dataset's own count, from its ``classes.json``)."""
    return decode_label(read_raw_label(path), path, layout, num_classes)


def read_raw_label(path: str | Path) -> np.ndarray:
    """``[H, W]`` uint8 values of a label file as stored (before the layout's mapping).

    A label holds one value per pixel: a colour mask (channels that differ) is refused, as is
    a 16-bit file with values past 255 (casting would wrap them modulo 256 into class ids);
    16-bit files whose values fit are read as they are, grey saved as RGB as grey. Palette
    PNGs give their indices (labelme, Pascal VOC; a palette of grey entries its values), and
    1/2/4-bit grey its values.
    """
    indexed = png_index_depth(path)
    if indexed:
        return _png_indices(path, *indexed)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise DatasetError(f"cannot read label '{path}' (missing, corrupt or not an image)")
    if raw.ndim == 3:
        channels = raw[:, :, :3]
        if (channels != channels[:, :, :1]).any():
            raise DatasetError(
                f"label '{path}' is a colour mask (its channels differ): label files hold "
                "class ids, one value per pixel. Convert colour masks to class ids with the "
                "dataset's palette (e.g. CamVid's *_L.png -> LabeledApproved ids), or check "
                "that the label folder is the right one"
            )
        raw = raw[:, :, 0]
    if raw.dtype != np.uint8:
        top = raw.max()
        if raw.dtype.kind not in "ui" or top > 255:
            raise DatasetError(
                f"label '{path}' is {raw.dtype} with values up to {top}: class ids must be "
                "0..255 (255 = void); save the labels as 8-bit PNG with those ids"
            )
        raw = raw.astype(np.uint8)
    return raw


PNG_PALETTE = 3
"""PNG colour type of a palette image (labelme's and Pascal VOC's label files)."""


def png_index_depth(path: str | Path) -> tuple[int, int] | None:
    """``(colour type, bit depth)`` of a PNG whose pixel values OpenCV would not give as they
    are: a palette image (it returns the palette's colours) or grey of 1, 2 or 4 bits (it
    stretches them to 0..255); else ``None``."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(26)
    except OSError:
        return None
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    depth, colour_type = head[24], head[25]
    if colour_type == PNG_PALETTE or (colour_type == 0 and depth < 8):
        return colour_type, depth
    return None


def _png_indices(path: str | Path, colour_type: int, depth: int) -> np.ndarray:
    """The stored values of a palette or low-bit grey PNG: its class ids."""
    if colour_type == 0:  # OpenCV scales 1/2/4-bit grey to 0..255: undo it exactly
        stretched = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if stretched is None:
            raise DatasetError(f"cannot read label '{path}' (corrupt PNG)")
        return (stretched // (255 // (2**depth - 1))).astype(np.uint8)
    try:
        from PIL import Image
    except ImportError:
        raise DatasetError(
            f"label '{path}' is a palette PNG (labelme, Pascal VOC): reading its class ids "
            "needs Pillow (pip install pillow), or save it as 8-bit grey") from None
    with Image.open(path) as image:
        indices = np.asarray(image, dtype=np.uint8)
        palette = np.array(image.getpalette() or [], np.uint8).reshape(-1, 3)
    used = np.unique(indices)
    if used.size and used.max() < len(palette):
        colours = palette[used]
        if (colours == colours[:, :1]).all():  # grey entries (a re-encoder's): their values
            return palette[indices, 0]
    return indices  # labelme / Pascal VOC: the index is the class id


def decode_label(raw: np.ndarray, path: str | Path, layout: str,
                 num_classes: int | None = None) -> np.ndarray:
    """The class ids of a raw label (:func:`read_raw_label`) as ``layout`` defines them;
    values from ``num_classes`` (default: the layout's) up are void."""
    path = Path(path)
    if layout == "camvid":
        return np.where(raw < 11, raw, IGNORE_LABEL).astype(np.uint8)
    if layout == "cityscapes" and path.name.endswith("_gtFine_labelIds.png"):
        return cityscapes_label_ids_to_train_ids(raw)
    num_classes = num_classes or label_set_for_layout(layout).num_classes
    return np.where(raw < num_classes, raw, IGNORE_LABEL).astype(np.uint8)


def cityscapes_label_ids_to_train_ids(label_ids: np.ndarray) -> np.ndarray:
    """Map Cityscapes labelIds to train ids with the official table (cityscapesscripts)."""
    return _cityscapes_lut()[label_ids]


_LUT_CACHE: dict[str, np.ndarray] = {}


def _cityscapes_lut() -> np.ndarray:
    if "cityscapes" not in _LUT_CACHE:
        try:
            from cityscapesscripts.helpers.labels import labels as cs_labels
        except ImportError as exc:
            raise DatasetError(
                "reading Cityscapes labelIds needs the 'cityscapesscripts' package "
                "(pip install cityscapesscripts), or use *_gtFine_labelTrainIds.png files"
            ) from exc
        lut = np.full(256, IGNORE_LABEL, dtype=np.uint8)
        for label in cs_labels:
            if 0 <= label.id < 256 and 0 <= label.trainId < 255:
                lut[label.id] = label.trainId
        _LUT_CACHE["cityscapes"] = lut
    return _LUT_CACHE["cityscapes"]


def _images_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def _find_camvid(root: Path, split: str) -> list[Sample]:
    labels = root / f"{split}annot"
    return [
        Sample(p.stem, p, (labels / p.name) if (labels / p.name).is_file() else None)
        for p in _images_in(root / split)
    ]


def _find_cityscapes(root: Path, split: str) -> list[Sample]:
    samples = []
    for image in _images_in(root / "leftImg8bit" / split):
        stem = image.name.replace("_leftImg8bit.png", "")
        folder = root / "gtFine" / split / image.parent.name
        train_ids = folder / f"{stem}_gtFine_labelTrainIds.png"
        label_ids = folder / f"{stem}_gtFine_labelIds.png"
        label = train_ids if train_ids.is_file() else label_ids if label_ids.is_file() else None
        samples.append(Sample(stem, image, label))
    return samples


def _find_bdd100k(root: Path, split: str) -> list[Sample]:
    candidates = (
        (root / "labels" / "sem_seg" / "masks" / split, "{stem}.png"),
        (root / "labels" / split, "{stem}_train_id.png"),
    )
    samples = []
    for image in _images_in(root / "images" / "10k" / split):
        label = None
        for folder, pattern in candidates:
            path = folder / pattern.format(stem=image.stem)
            if path.is_file():
                label = path
                break
        samples.append(Sample(image.stem, image, label))
    return samples


SPLIT_NAMES = {"train", "training", "val", "valid", "validation", "test", "testing"}
"""Subfolders of a folder dataset's images/ that are splits (others, e.g. one per drive, are
searched as part of every split when there are no split folders)."""


def _find_folder(root: Path, split: str) -> list[Sample]:
    images_dir, labels_dir = root / "images" / split, root / "labels" / split
    if not images_dir.is_dir():
        splits = sorted(p.name for p in (root / "images").glob("*")
                        if p.is_dir() and p.name.lower() in SPLIT_NAMES)
        if splits:  # never another split's frames, nor a label of the same name from one
            raise DatasetError(f"no '{images_dir}' folder: '{root / 'images'}' holds "
                               f"{', '.join(splits)}; name the {split} folders {split}")
        # images/ + labels/ without split folders: every split is every frame
        images_dir, labels_dir = root / "images", root / "labels"
    label_files = _images_in(labels_dir)
    lossy = [p for p in label_files if p.suffix.lower() in (".jpg", ".jpeg")]
    if lossy:
        raise DatasetError(f"label '{lossy[0]}' is a JPEG ({len(lossy)} such in "
                           f"'{labels_dir}'): lossy compression invents class ids along every "
                           "edge; save labels as PNG")
    labels = {p.stem: p for p in label_files}
    return [Sample(p.stem, p, labels.get(p.stem)) for p in _images_in(images_dir)]


_FINDERS = {
    "camvid": _find_camvid,
    "cityscapes": _find_cityscapes,
    "bdd100k": _find_bdd100k,
    "folder": _find_folder,
}
