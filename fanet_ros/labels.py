"""Class tables (names, colours, ignore value, categories) of the supported datasets.

One table per dataset, shared by training, the node, evaluation and launch
files. Label images use class ids ``0..N-1`` and ``IGNORE_LABEL`` (255) for
void / unknown pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

IGNORE_LABEL = 255
"""Label value for void / unknown pixels in ground truth and in ``~/label``."""
MAX_CLASSES = 255
"""Most classes a model may have: ``~/label`` is mono8, ids 0..254, and 255 means unknown."""


def class_table_problems(
    class_names: tuple[str, ...], colors: tuple[tuple[int, ...], ...], ignore_label: int
) -> list[str]:
    """What is wrong with a class table (names, RGB colours, ignore value), field by field.

    The ignore value marks void ground-truth pixels: it must fit a mono8 label image and
    must not be a class id (``num_classes..255``).
    """
    problems = []
    count = len(class_names)
    if count != len(colors):
        problems.append(f"{count} class names but {len(colors)} colours")
    if not 0 < count <= MAX_CLASSES:
        problems.append(
            f"class_names: {count} classes; 1..{MAX_CLASSES} are supported (mono8 labels hold "
            f"ids 0..{MAX_CLASSES - 1}, {IGNORE_LABEL} means unknown)"
        )
    for i, color in enumerate(colors):
        valid = len(color) == 3 and all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in color)
        if not valid:
            problems.append(f"colors[{i}] = {list(color)}: a colour is 3 whole numbers 0..255")
            break
    if not count <= ignore_label <= 255 and count <= MAX_CLASSES:
        problems.append(
            f"ignore_label {ignore_label}: must be {count}..255 (not a class id, and within a "
            "mono8 label image)"
        )
    return problems


@dataclass(frozen=True)
class LabelSet:
    """The classes a model predicts and how they are drawn and grouped."""

    name: str
    class_names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]
    """RGB colour of each class, in class-id order."""
    ignore_label: int = IGNORE_LABEL
    categories: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """Category name -> class ids (Cityscapes groups); empty when undefined."""

    def __post_init__(self) -> None:
        problems = class_table_problems(self.class_names, self.colors, self.ignore_label)
        if problems:
            raise ValueError(f"label set {self.name!r}: " + "; ".join(problems))
        for category, ids in self.categories.items():
            bad = [i for i in ids if not 0 <= i < len(self.class_names)]
            if bad:
                raise ValueError(f"category {category!r} names unknown class ids {bad}")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


# Cityscapes train ids 0..18 (the official 19 evaluated classes) and colours.
CITYSCAPES = LabelSet(
    name="cityscapes",
    class_names=(
        "road", "sidewalk", "building", "wall", "fence", "pole",
        "traffic light", "traffic sign", "vegetation", "terrain", "sky",
        "person", "rider", "car", "truck", "bus", "train", "motorcycle",
        "bicycle",
    ),
    colors=(
        (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156),
        (190, 153, 153), (153, 153, 153), (250, 170, 30), (220, 220, 0),
        (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
        (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100),
        (0, 0, 230), (119, 11, 32),
    ),
    categories={
        "flat": (0, 1),
        "construction": (2, 3, 4),
        "object": (5, 6, 7),
        "nature": (8, 9),
        "sky": (10,),
        "human": (11, 12),
        "vehicle": (13, 14, 15, 16, 17, 18),
    },
)

# BDD100K semantic segmentation uses the Cityscapes train ids and colours.
BDD100K = LabelSet(
    name="bdd100k",
    class_names=CITYSCAPES.class_names,
    colors=CITYSCAPES.colors,
    categories=CITYSCAPES.categories,
)

# CamVid, SegNet 11-class split; annotation value 11 (void) is mapped to 255.
CAMVID = LabelSet(
    name="camvid",
    class_names=(
        "Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol",
        "Fence", "Car", "Pedestrian", "Bicyclist",
    ),
    colors=(
        (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128),
        (60, 40, 222), (128, 128, 0), (192, 128, 128), (64, 64, 128),
        (64, 0, 128), (64, 64, 0), (0, 128, 192),
    ),
)

LABEL_SETS: dict[str, LabelSet] = {s.name: s for s in (CITYSCAPES, CAMVID, BDD100K)}


def get_label_set(name: str) -> LabelSet:
    """Return the label set of a dataset by name (case-insensitive)."""
    try:
        return LABEL_SETS[name.lower()]
    except KeyError:
        raise ValueError(
            f"unknown dataset {name!r}; known: {', '.join(sorted(LABEL_SETS))}"
        ) from None
