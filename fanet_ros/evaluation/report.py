"""An evaluation's figures and how they are written: report.json, report.md and PNGs.

Without ground truth (a robot's own drive) the accuracy part is left out and the
latency, throughput, class-share and flicker figures remain.
"""

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
from fanet_ros.evaluation.temporal import STABILITY_DEFINITION, TemporalStats
from fanet_ros.labels import LabelSet
from fanet_ros.metrics import SegmentationScores
from fanet_ros.preprocessing import resize_image

LATENCY_PERCENTILES = (50, 95, 99)
REPORT_FILES = ("report.json", "report.md", "class_iou.png", "latency_histogram.png", "frames.png")
"""What an evaluation with ground truth writes (plus timeline.png for a bag replay)."""
TIMELINE_FILE = "timeline.png"


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
    scores: SegmentationScores | None
    """``None`` when no frame had ground truth."""
    counts: FrameCounts
    latencies_ms: np.ndarray
    duration_s: float
    """From the first label received to the last: ``labels_received - 1`` intervals."""
    latency_definition: str
    unmatched_stamps: list[str] = field(default_factory=list)
    node: dict[str, Any] = field(default_factory=dict)
    """How the node was run (parameters, or the label topic of a running node)."""
    samples: list[FrameSample] = field(default_factory=list)
    temporal: TemporalStats | None = None
    """Class share over time and flicker (bag replay)."""
    outputs_bag: dict[str, Any] = field(default_factory=dict)
    """Where the node's outputs were recorded, how many messages per topic, and per topic
    that lacks some, how many answered frames are missing there."""

    @property
    def mean_iou(self) -> float:
        return float("nan") if self.scores is None else self.scores.mean_iou

    @property
    def throughput_fps(self) -> float:
        """Labels per second: intervals between the first label and the last over their
        span (N labels of a camera at f fps span N - 1 periods, so N / span read high)."""
        intervals = self.counts.labels_received - 1
        return intervals / self.duration_s if intervals > 0 and self.duration_s > 0 else \
            float("nan")

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
            "scores": None if self.scores is None
            else self.scores.to_dict(self.label_set.class_names),
            "frames": vars(self.counts).copy(),
            "unmatched_stamps": self.unmatched_stamps,
            "latency_ms": self.latency_summary_ms(),
            "latency_definition": self.latency_definition,
            "throughput_fps": None if math.isnan(fps) else fps,
            "duration_s": self.duration_s,
            "node": self.node,
            "temporal": None if self.temporal is None else self.temporal.to_dict(self.label_set),
            "outputs_bag": self.outputs_bag or None,
        }

    def to_markdown(self) -> str:
        c, lat = self.counts, self.latency_summary_ms()
        lines = [
            f"# Segmentation evaluation: {self.source}",
            "",
            f"Mode: **{self.mode}**. Classes: {self.label_set.name} "
            f"({self.label_set.num_classes}). " + (
                "No ground truth: latency, throughput, class share and flicker only."
                if self.scores is None else
                f"mIoU: **{percent(self.mean_iou)} %**, "
                f"pixel accuracy {percent(self.scores.pixel_accuracy)} %."
            ),
            "",
        ]
        if self.scores is not None:
            lines += [
                "## Accuracy",
                "",
                self.scores.format_table(self.label_set.class_names),
                "",
                "![per-class IoU](class_iou.png)",
                "",
            ]
        lines += [
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
        ]
        if self.temporal is not None:
            lines += _temporal_markdown(self.temporal, self.label_set)
        truth = "" if self.scores is None else " ground truth,"
        lines += [f"## Frames: input,{truth} prediction, overlay", "", "![frames](frames.png)", ""]
        if self.outputs_bag:
            missing = self.outputs_bag.get("missing", {})
            lines += [
                "## Outputs bag",
                "",
                f"The node's outputs, under the input's stamps: `{self.outputs_bag['path']}` "
                f"({self.outputs_bag['storage']}).",
                "",
                *(f"- `{t}`: {n} messages" + (
                    f" (**{missing[t]} answered frames missing**)" if t in missing else "")
                  for t, n in self.outputs_bag["messages"].items()),
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
    written = [out / "report.json", out / "report.md"]
    if report.scores is not None:
        _plot_class_iou(report, out / "class_iou.png")
        written.append(out / "class_iou.png")
    _plot_latency(report, out / "latency_histogram.png")
    cv2.imwrite(str(out / "frames.png"), cv2.cvtColor(frame_grid(report), cv2.COLOR_RGB2BGR))
    written += [out / "latency_histogram.png", out / "frames.png"]
    if report.temporal is not None:
        _plot_timeline(report.temporal, report.label_set, out / TIMELINE_FILE)
        written.append(out / TIMELINE_FILE)
    return written


def frame_grid(report: Report, alpha: float = 0.5) -> np.ndarray:
    """Rows of input | ground truth | prediction | overlay (RGB); ground truth's void is black.

    Frames without ground truth leave that tile out.
    """
    colorize = Colorizer(report.label_set.colors)
    rows = []
    for sample in report.samples:
        h, w = sample.prediction.shape
        pred = colorize(sample.prediction)
        tiles = [pred] if sample.ground_truth is None else [colorize(sample.ground_truth), pred]
        if sample.image is not None:
            image = resize_image(sample.image, h, w)
            tiles = [image, *tiles, cv2.addWeighted(image, 1.0 - alpha, pred, alpha, 0.0)]
        rows.append(np.concatenate(tiles, axis=1))
    if not rows:
        return np.zeros((32, 32, 3), dtype=np.uint8)
    width = max(r.shape[1] for r in rows)
    rows = [resize_image(r, round(r.shape[0] * width / r.shape[1]), width) for r in rows]
    return np.concatenate(rows, axis=0)


def _temporal_markdown(temporal: TemporalStats, label_set: LabelSet) -> list[str]:
    changed = temporal.stability_summary()
    share = temporal.mean_share()
    order = np.argsort(-share)
    return [
        "## Temporal stability and class share",
        "",
        f"Flicker: {STABILITY_DEFINITION}.",
        "",
        "| mean (%) | p50 (%) | p95 (%) | max (%) | pairs | pairs skipping frames |",
        "|---:|---:|---:|---:|---:|---:|",
        "| " + " | ".join(percent(_nan(changed[k])) for k in ("mean", "p50", "p95", "max"))
        + f" | {changed['pairs']} | {changed['pairs_skipping_frames']} |",
        "",
        "| class | share of pixels (%) |",
        "|---|---:|",
        *(f"| {label_set.class_names[i]} | {100.0 * share[i]:.2f} |" for i in order),
        "",
        f"![class share and flicker over time]({TIMELINE_FILE})",
        "",
    ]


def _plot_timeline(temporal: TemporalStats, label_set: LabelSet, path: Path) -> None:
    plt = _pyplot()
    points = sorted(temporal.points, key=lambda p: p.index)
    times = [p.time_s for p in points]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5), sharex=True,
                                      gridspec_kw={"height_ratios": [2, 1]})
    if points:
        shares = np.array([p.share for p in points]).T * 100.0
        colors = [tuple(v / 255.0 for v in c) for c in label_set.colors]
        top.stackplot(times, shares, colors=colors, labels=label_set.class_names)
        changed = [(p.time_s, 100.0 * p.changed) for p in points if p.changed is not None]
        if changed:
            bottom.plot(*zip(*changed), marker=".", linewidth=0.8)
        top.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=6)
    else:
        top.text(0.5, 0.5, "no labels received", ha="center", transform=top.transAxes)
    top.set_ylim(0, 100)
    top.set_ylabel("class share (%)")
    bottom.set_ylabel("pixels changed (%)")
    bottom.set_xlabel("time in the bag (s)")
    top.set_title("Class share and frame-to-frame label changes")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_class_iou(report: Report, path: Path) -> None:
    plt = _pyplot()
    names = report.label_set.class_names
    assert report.scores is not None
    absent = np.isnan(report.scores.class_iou)  # in neither ground truth nor prediction
    iou = np.where(absent, 0.0, report.scores.class_iou) * 100.0
    colors = [tuple(v / 255.0 for v in c) for c in report.label_set.colors]
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(names) + 1.5))
    ax.barh(range(len(names)), iou, color=colors, edgecolor="black", linewidth=0.5)
    for row in np.flatnonzero(absent):  # not a 0 % bar: the table's "n/a"
        ax.text(1.0, row, "n/a (absent)", va="center", fontsize=7)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("IoU (%)")
    if not np.isnan(report.mean_iou):
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


def _nan(value: float | int | None) -> float:
    return float("nan") if value is None else float(value)


def percent(fraction: float | None, digits: int = 2, unit: str = "") -> str:
    """``100 x fraction`` to ``digits`` decimals, then ``unit``; ``n/a`` for a figure that was
    not measured (``None`` or NaN)."""
    if fraction is None or math.isnan(fraction):
        return "n/a"
    return f"{100.0 * fraction:.{digits}f}{unit}"


def percentiles_text(latency_ms: dict[str, float | None], sep: str = "/") -> str:
    """Latency p50, p95 and p99 in ms to one decimal, ``n/a`` where none was measured."""
    return sep.join("n/a" if latency_ms[k] is None else f"{latency_ms[k]:.1f}"
                    for k in ("p50", "p95", "p99"))


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"
