"""Class tables (names, colours, ignore value, categories) of the supported datasets.

One table per dataset, shared by training, the node, evaluation and launch
files. Label images use class ids ``0..N-1`` and ``IGNORE_LABEL`` (255) for
void / unknown pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

IGNORE_LABEL = 255
"""Label value for void / unknown pixels in ground truth and in ``~/label``."""


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
        if len(self.class_names) != len(self.colors):
            raise ValueError(
                f"label set {self.name!r}: {len(self.class_names)} class names "
                f"but {len(self.colors)} colours"
            )
        if not 0 < len(self.class_names) < 255:
            raise ValueError(f"label set {self.name!r}: need 1..254 classes")
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
