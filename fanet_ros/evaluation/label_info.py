"""The classes being evaluated: from the node's latched ``~/label_info`` or a dataset name."""

from __future__ import annotations

import json

from fanet_ros.labels import IGNORE_LABEL, LABEL_SETS, LabelSet, get_label_set


class LabelInfoError(ValueError):
    """A ``~/label_info`` message that cannot be understood."""


def label_set_from_label_info(text: str) -> LabelSet:
    """A :class:`LabelSet` from the node's ``~/label_info`` JSON.

    Categories come from the dataset's table when the class names match it
    (a model trained on Cityscapes gets Cityscapes' category IoU).
    """
    try:
        info = json.loads(text)
        classes = sorted(info["classes"], key=lambda c: int(c["id"]))
        names = tuple(str(c["name"]) for c in classes)
        colors = tuple(tuple(int(v) for v in c["color"]) for c in classes)
        dataset = str(info.get("dataset", ""))
        ignore = int(info.get("ignore_label", IGNORE_LABEL))
        known = LABEL_SETS.get(dataset.lower())
        categories = known.categories if known and known.class_names == names else {}
        return LabelSet(dataset or "model", names, colors, ignore,  # type: ignore[arg-type]
                        categories)
    except (ValueError, KeyError, TypeError) as exc:  # LabelSet checks the table too
        raise LabelInfoError(f"unreadable label_info message ({exc}): {text[:200]!r}") from None


def label_set_for(dataset: str = "", num_classes: int = 0) -> LabelSet | None:
    """A dataset's label set, or ``num_classes`` unnamed classes; ``None`` if neither is given."""
    if dataset:
        return get_label_set(dataset)
    if num_classes > 0:
        gray = tuple((v, v, v) for v in range(0, 256, max(1, 256 // num_classes)))[:num_classes]
        return LabelSet("unnamed", tuple(str(i) for i in range(num_classes)), gray)
    return None
