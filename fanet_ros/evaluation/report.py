"""An evaluation's figures and how they are written: report.json, report.md and PNGs."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fanet_ros.colorize import Colorizer
from fanet_ros.evaluation.scoring import FrameSample
from fanet_ros.labels import LabelSet
from fanet_ros.metrics import SegmentationScores
from fanet_ros.preprocessing import resize_image

LATENCY_PERCENTILES = (50, 95, 99)
REPORT_FILES = ("report.json", "report.md", "class_iou.png", "latency_histogram.png", "frames.png")


@dataclass
class FrameCounts:
    """What happened to every frame; ``ground_truth == matched + unmatched`` always."""

    images_sent: int = 0
    """Images published to the node (retries in lossless mode not counted twice)."""
    labels_received: int = 0
    """Labels received for an image that was sent."""
    dropped: int = 0
    """Images sent that never came back (the node dropped them, or they timed out)."""
    ground_truth: int = 0
    matched: int = 0
    """Ground-truth frames scored against a prediction."""
    unmatched: int = 0
    """Ground-truth frames without a prediction (listed by stamp in the report)."""
    images_without_ground_truth: int = 0
    unexpected_labels: int = 0
    """Labels whose stamp matches no image sent (or no ground truth, live)."""


@dataclass
class Report:
    """The figures of one evaluation run (bag replay or live)."""

    source: str
    """The bag, or the topics for a live evaluation."""
    mode: str
    """``lossless``, ``realtime`` or ``live``."""
    label_set: LabelSet
    scores: SegmentationScores
    counts: FrameCounts
    latencies_ms: np.ndarray
    duration_s: float
    """From the first image sent to the last label received."""
    latency_definition: str
    unmatched_stamps: list[str] = field(default_factory=list)
    node: dict[str, Any] = field(default_factory=dict)
    """How the node was run (parameters, or the label topic of a running node)."""
    samples: list[FrameSample] = field(default_factory=list)

    @property
    def mean_iou(self) -> float:
        return self.scores.mean_iou

    @property
    def throughput_fps(self) -> float:
        received = self.counts.labels_received
        return received / self.duration_s if self.duration_s > 0 else float("nan")

    def latency_summary_ms(self) -> dict[str, float | None]:
        if self.latencies_ms.size == 0:
            return {f"p{q}": None for q in LATENCY_PERCENTILES} | {"mean": None, "max": None}
        values = np.percentile(self.latencies_ms, LATENCY_PERCENTILES)
        summary = {f"p{q}": float(v) for q, v in zip(LATENCY_PERCENTILES, values)}
        return summary | {
            "mean": float(self.latencies_ms.mean()), "max": float(self.latencies_ms.max())
        }

    def to_dict(self) -> dict[str, Any]:
        fps = self.throughput_fps
        return {
            "source": self.source,
            "mode": self.mode,
            "dataset": self.label_set.name,
            "scores": self.scores.to_dict(self.label_set.class_names),
            "frames": vars(self.counts).copy(),
            "unmatched_stamps": self.unmatched_stamps,
            "latency_ms": self.latency_summary_ms(),
            "latency_definition": self.latency_definition,
            "throughput_fps": None if math.isnan(fps) else fps,
            "duration_s": self.duration_s,
            "node": self.node,
        }

    def to_markdown(self) -> str:
        c, lat = self.counts, self.latency_summary_ms()
        lines = [
            f"# Segmentation evaluation: {self.source}",
            "",
            f"Mode: **{self.mode}**. Classes: {self.label_set.name} "
            f"({self.label_set.num_classes}). mIoU: **{_pct(self.mean_iou)} %**, "
            f"pixel accuracy {_pct(self.scores.pixel_accuracy)} %.",
            "",
            "## Accuracy",
            "",
            self.scores.format_table(self.label_set.class_names),
            "",
            "![per-class IoU](class_iou.png)",
            "",
            "## Frames",
            "",
            "| frames | count |",
            "|---|---:|",
            *(f"| {k.replace('_', ' ')} | {v} |" for k, v in vars(c).items()),
            "",
        ]
        if self.unmatched_stamps:
            shown = ", ".join(self.unmatched_stamps[:20])
            more = f" and {len(self.unmatched_stamps) - 20} more" if c.unmatched > 20 else ""
            lines += [f"Unmatched ground-truth stamps: {shown}{more}.", ""]
        lines += [
            "## Latency and throughput",
            "",
            f"Latency: {self.latency_definition}.",
            "",
            "| p50 (ms) | p95 (ms) | p99 (ms) | mean (ms) | max (ms) | throughput (fps) |",
            "|---:|---:|---:|---:|---:|---:|",
            "| " + " | ".join(_ms(lat[k]) for k in ("p50", "p95", "p99", "mean", "max"))
            + f" | {self.throughput_fps:.2f} |",
            "",
            "![latency histogram](latency_histogram.png)",
            "",
            "## Frames: input, ground truth, prediction, overlay",
            "",
            "![frames](frames.png)",
            "",
        ]
        if self.node:
            lines += ["## Node", "", *(f"- {k}: `{v}`" for k, v in self.node.items()), ""]
        return "\n".join(lines)


def write_report(report: Report, output_dir: str | Path) -> list[Path]:
    """Write report.json, report.md and the PNGs into ``output_dir``; return the paths."""
    out = Path(output_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    (out / "report.md").write_text(report.to_markdown())
    _plot_class_iou(report, out / "class_iou.png")
    _plot_latency(report, out / "latency_histogram.png")
    cv2.imwrite(str(out / "frames.png"), cv2.cvtColor(frame_grid(report), cv2.COLOR_RGB2BGR))
    return [out / name for name in REPORT_FILES]


def frame_grid(report: Report, alpha: float = 0.5) -> np.ndarray:
    """Rows of input | ground truth | prediction | overlay (RGB); ground truth's void is black."""
    colorize = Colorizer(report.label_set.colors)
    rows = []
    for sample in report.samples:
        h, w = sample.prediction.shape
        pred = colorize(sample.prediction)
        tiles = [colorize(sample.ground_truth), pred]
        if sample.image is not None:
            image = resize_image(sample.image, h, w)
            tiles = [image, *tiles, cv2.addWeighted(image, 1.0 - alpha, pred, alpha, 0.0)]
        rows.append(np.concatenate(tiles, axis=1))
    if not rows:
        return np.zeros((32, 32, 3), dtype=np.uint8)
    width = max(r.shape[1] for r in rows)
    rows = [resize_image(r, round(r.shape[0] * width / r.shape[1]), width) for r in rows]
    return np.concatenate(rows, axis=0)


def _plot_class_iou(report: Report, path: Path) -> None:
    plt = _pyplot()
    names = report.label_set.class_names
    iou = np.nan_to_num(report.scores.class_iou, nan=0.0) * 100.0
    colors = [tuple(v / 255.0 for v in c) for c in report.label_set.colors]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(names) + 1.5))
    ax.barh(range(len(names)), iou, color=colors, edgecolor="black", linewidth=0.5)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("IoU (%)")
    ax.axvline(report.mean_iou * 100.0, color="red", linestyle="--", label="mean IoU")
    ax.legend(loc="lower right")
    ax.set_title(f"Per-class IoU ({report.mode})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_latency(report: Report, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    if report.latencies_ms.size:
        ax.hist(report.latencies_ms, bins=min(50, max(5, report.latencies_ms.size // 4)))
        for name, value in report.latency_summary_ms().items():
            if name.startswith("p") and value is not None:
                ax.axvline(value, linestyle="--", color="black", linewidth=0.8)
                ax.text(value, ax.get_ylim()[1] * 0.95, name, rotation=90, va="top")
    else:
        ax.text(0.5, 0.5, "no latencies measured", ha="center", transform=ax.transAxes)
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("frames")
    ax.set_title("Latency: " + report.latency_definition, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{100.0 * value:.2f}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
