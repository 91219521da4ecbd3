"""The main job, shortened: a generated drive through the real node on the shipped demo model."""

from __future__ import annotations

import json
import subprocess
import sys

FRAMES = 6


def test_demo_runs_end_to_end_and_scores_the_shipped_model(tmp_path):
    out = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "fanet_ros.evaluation.demo", "--frames", str(FRAMES),
         "--output-dir", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "report written:" in result.stdout
    for rate in ("lossless", "realtime"):
        for name in ("report.json", "report.md", "frames.png", "class_iou.png"):
            assert (out / rate / name).is_file(), f"{rate}/{name}"
    lossless = json.loads((out / "lossless" / "report.json").read_text())
    assert lossless["frames"]["matched"] == FRAMES and lossless["frames"]["unmatched"] == 0
    # the demo model really segments the drive (big classes well above chance)
    assert lossless["scores"]["class_iou"]["Road"] > 0.8
    assert lossless["scores"]["mean_iou"] > 0.3
    realtime = json.loads((out / "realtime" / "report.json").read_text())
    frames = realtime["frames"]
    assert frames["matched"] + frames["unmatched"] == frames["ground_truth"] == FRAMES
    assert "mIoU (lossless" in (out / "summary.md").read_text()


def test_a_model_that_cannot_load_is_named_without_a_traceback(tmp_path):
    """Before: the node's start-up error came out of the replay as a traceback."""
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not a model")
    result = subprocess.run(
        [sys.executable, "-m", "fanet_ros.evaluation.demo", "--frames", "2",
         "--output-dir", str(tmp_path / "demo"), "--model-path", str(corrupt)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith("demo: ") and "Traceback" not in result.stderr
    assert "corrupt.onnx" in result.stderr


def test_a_latency_that_was_not_measured_reads_n_a():
    import argparse
    from pathlib import Path

    import numpy as np

    from fanet_ros.evaluation.demo import summary_markdown

    class Report:
        counts = argparse.Namespace(matched=0, dropped=3, images_sent=3)
        mean_iou = float("nan")
        scores = argparse.Namespace(pixel_accuracy=float("nan"))
        throughput_fps = 0.0
        latencies_ms = np.zeros(0)

        def latency_summary_ms(self):
            return {"p50": None, "p95": None, "p99": None}

    args = argparse.Namespace(frames=3, width=64, height=48, fps=10.0, seed=0,
                              model_path=Path("m.onnx"))
    text = summary_markdown({"lossless": Report(), "realtime": Report()}, args, 1.0)
    assert "| n/a / n/a / n/a ms |" in text and "| n/a |" in text
