"""fanet-robustness: a model scored on frames as they are and through each degradation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from dataset_files import write_dataset

from fanet_ros.evaluation.corruptions import CORRUPTIONS, darken, low_contrast
from fanet_ros.evaluation.robustness import main, robustness
from fanet_ros.segmenter import Segmenter


def test_each_degradation_keeps_the_frame_shape_and_changes_it() -> None:
    image = np.random.default_rng(0).integers(40, 220, (48, 64, 3), dtype=np.uint8)
    for name, corrupt in CORRUPTIONS.items():
        out = corrupt(image)
        assert out.shape == image.shape and out.dtype == np.uint8, name
        assert (name == "clean") == np.array_equal(out, image), name
    assert darken(image).mean() < 0.5 * image.mean()
    assert low_contrast(image).std() < 0.5 * image.std()


def test_clean_row_equals_scoring_the_segmenter_directly(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "data", "camvid", count=3, height=96, width=128)
    with Segmenter("fanet_synthetic", device=-1) as segmenter:
        report = robustness(segmenter, str(root), "camvid", "val")
        assert report["frames"] == 3 and list(report["results"]) == list(CORRUPTIONS)
        from fanet_ros.dataset_layouts import find_samples, read_image, read_label
        from fanet_ros.metrics import ConfusionMatrix

        matrix = ConfusionMatrix(11, 255)
        for sample in find_samples(root, "camvid", "val"):
            labels = segmenter(read_image(sample.image_path), "rgb8").labels
            matrix.update(read_label(sample.label_path, "camvid"), labels)
    clean = report["results"]["clean"]["mean_iou"]
    assert clean == pytest.approx(matrix.scores().mean_iou)


def test_command_filters_drives_and_writes_json(tmp_path: Path, capsys) -> None:
    root = write_dataset(tmp_path / "data", "camvid", count=3, height=96, width=128)
    out = tmp_path / "report.json"
    assert main(["fanet_synthetic", "--dataset-root", str(root), "--split", "val",
                 "--drives", "frame_001", "--output", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["frames"] == 1 and report["drives"] == ["frame_001"]
    assert "| clean |" in capsys.readouterr().out
    assert main(["fanet_synthetic", "--dataset-root", str(root), "--drives", "0006R0"]) == 2
    assert "no val frame" in capsys.readouterr().err


def test_a_model_of_other_classes_than_the_layout_is_refused(tmp_path: Path, capsys) -> None:
    """Before: a CamVid model on Cityscapes labels was scored id for id (its sky as road) and
    printed an mIoU with exit 0."""
    root = write_dataset(tmp_path / "data", "cityscapes", count=2, height=64, width=128)
    assert main(["fanet_synthetic", "--dataset-root", str(root), "--layout", "cityscapes",
                 "--split", "val"]) == 2
    err = capsys.readouterr().err
    assert ("segments 11 classes (Sky, Building, Pole, ...), the cityscapes layout's labels "
            "19") in err
    assert "pass the --layout of the dataset the model was trained on" in err
