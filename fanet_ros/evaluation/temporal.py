"""Figures that need no ground truth: the share of each class over time and label flicker.

Flicker is measured as the fraction of pixels whose class differs from the previous
answered frame of the same size (a known proxy for temporal instability: a steady camera
on a steady scene should change few pixels). Frames are taken in bag order; a pair that
skips frames (the node dropped some, in realtime replay) is counted apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fanet_ros.labels import LabelSet

STABILITY_DEFINITION = (
    "fraction of pixels whose class differs from the previous answered frame "
    "(consecutive bag frames only; a flicker proxy)"
)


@dataclass
class TimelinePoint:
    """One answered frame."""

    index: int
    """Position in the bag."""
    time_s: float
    """Header stamp, seconds after the first frame's."""
    share: np.ndarray
    """Fraction of pixels per class id (unknown pixels are in none)."""
    changed: float | None
    """Fraction of pixels changed since the previous bag frame; ``None`` if not comparable."""


@dataclass
class TemporalStats:
    """Accumulates the timeline of a replay, one answered frame at a time."""

    num_classes: int
    points: list[TimelinePoint] = field(default_factory=list)
    pairs_skipping_frames: int = 0
    """Frame pairs more than one bag frame apart (frames dropped between them)."""
    first_ns: int | None = None
    """The bag's first frame's stamp (ns), which ``time_s`` counts from; ``None``: the first
    answered frame's (later than the bag's when that frame was dropped)."""
    _previous: tuple[int, np.ndarray] | None = field(default=None, init=False, repr=False)

    def add(self, index: int, stamp_ns: int, prediction: np.ndarray) -> None:
        """Record frame ``index`` (``[H, W]`` class ids) of the bag."""
        self.first_ns = stamp_ns if self.first_ns is None else self.first_ns
        counts = np.bincount(prediction.reshape(-1), minlength=256)[: self.num_classes]
        changed = None
        previous = self._previous
        if previous is not None and index > previous[0]:
            if previous[1].shape == prediction.shape:
                if index == previous[0] + 1:
                    changed = float(np.count_nonzero(previous[1] != prediction)) / prediction.size
                else:
                    self.pairs_skipping_frames += 1
        if previous is None or index > previous[0]:
            self._previous = (index, prediction)
        self.points.append(TimelinePoint(
            index, (stamp_ns - self.first_ns) * 1e-9, counts / max(1, prediction.size), changed
        ))

    def changed_fractions(self) -> np.ndarray:
        return np.array([p.changed for p in self.points if p.changed is not None], np.float64)

    def stability_summary(self) -> dict[str, float | int | None]:
        """Mean, p50, p95 and max changed fraction over consecutive pairs, and the counts."""
        changed = self.changed_fractions()
        summary: dict[str, float | int | None] = {"mean": None, "p50": None, "p95": None,
                                                  "max": None}
        if changed.size:
            p50, p95 = np.percentile(changed, (50, 95))
            summary = {"mean": float(changed.mean()), "p50": float(p50), "p95": float(p95),
                       "max": float(changed.max())}
        return summary | {"pairs": int(changed.size),
                          "pairs_skipping_frames": self.pairs_skipping_frames}

    def mean_share(self) -> np.ndarray:
        """Each class's share of all answered pixels, frames weighted equally."""
        if not self.points:
            return np.zeros(self.num_classes)
        return np.mean([p.share for p in self.points], axis=0)

    def to_dict(self, label_set: LabelSet) -> dict[str, Any]:
        points = sorted(self.points, key=lambda p: p.index)
        return {
            "stability_definition": STABILITY_DEFINITION,
            "changed_fraction": self.stability_summary(),
            "class_share_mean": {
                name: round(float(v), 6)
                for name, v in zip(label_set.class_names, self.mean_share())
            },
            "timeline": [
                {"frame": p.index, "time_s": round(p.time_s, 6),
                 "changed": None if p.changed is None else round(p.changed, 6),
                 "share": [round(float(v), 6) for v in p.share]}
                for p in points
            ],
        }
