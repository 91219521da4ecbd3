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
