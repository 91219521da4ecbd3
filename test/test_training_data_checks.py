"""Label checks before training: counts per split, a warning for out-of-range labels, a stop
for a split without one valid pixel (fanet-train used to train on it and print mIoU "nan%")."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from dataset_files import write_dataset

from fanet_ros.dataset_layouts import DatasetError, find_samples, label_set_for_layout
from fanet_training.data_checks import check_splits, count_split
from fanet_training.train import main


@pytest.mark.parametrize("layout", ["camvid", "cityscapes", "bdd100k", "folder"])
def test_clean_labels_of_every_layout_have_nothing_out_of_range(tmp_path: Path, layout: str):
    root = write_dataset(tmp_path, layout, count=2, splits=("train",))
    counts = count_split(find_samples(root, layout, "train"), layout, "train")
    assert counts.files == 2 and counts.out_of_range == 0
    assert counts.valid > 0 and counts.void == 2 * 2 * 64  # the two void rows of each file
    assert counts.pixels == 2 * 64 * 64


def _corrupt_labels(root: Path, split: str, value: int, rows: slice) -> list[Path]:
    paths = sorted((root / "labels" / split).glob("*.png"))
    for path in paths:
        labels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        labels[rows] = value
        cv2.imwrite(str(path), labels)
    return paths


def test_out_of_range_labels_are_counted_and_named_with_an_example(tmp_path: Path):
    root = write_dataset(tmp_path, count=3)
    paths = _corrupt_labels(root, "train", 37, slice(10, 12))  # 2 rows x 64 per file
    said: list[str] = []
    reports = check_splits(
        [(s, find_samples(root, "folder", s)) for s in ("train", "val")], "folder",
        label_set_for_layout("folder"), log=said.append,
    )
    train, val = reports
    assert train.out_of_range == 3 * 2 * 64 and val.out_of_range == 0
    warning = next(line for line in said if line.startswith("WARNING"))
    assert "384 label pixels of the train split" in warning
    assert str(paths[0]) in warning and "37" in warning and "--layout" in warning
    assert any(line.startswith("labels val:") and "0 pixels out of range" in line for line in said)


def test_a_split_without_valid_pixels_stops_with_a_clear_error(tmp_path: Path):
    root = write_dataset(tmp_path, count=2)
    _corrupt_labels(root, "val", 200, slice(None))
    with pytest.raises(DatasetError, match="val split has no valid label pixel.*--layout"):
        check_splits([("val", find_samples(root, "folder", "val"))], "folder",
                     label_set_for_layout("folder"), log=lambda _: None)


def test_fanet_train_refuses_a_dataset_whose_labels_are_all_out_of_range(
    tmp_path: Path, capsys: pytest.CaptureFixture
):
    root = write_dataset(tmp_path / "data", count=2)
    for split in ("train", "val"):
        _corrupt_labels(root, split, 100, slice(None))
    run = tmp_path / "run"
    code = main(["--model", "fanet", "--dataset-root", str(root), "--layout", "folder",
                 "--run-dir", str(run), "--height", "64", "--width", "64", "--epochs", "1",
                 "--batch-size", "2", "--workers", "0", "--verbose", "0"])
    out = capsys.readouterr()
    assert code == 2
    assert "train split has no valid label pixel" in out.err
    assert "nan" not in out.out + out.err
    assert not list(run.glob("*.weights.h5"))  # nothing trained, nothing written


def test_unreadable_label_is_named_or_skipped(tmp_path: Path):
    root = write_dataset(tmp_path, count=2, splits=("train",))
    broken = sorted((root / "labels" / "train").glob("*.png"))[0]
    broken.write_bytes(b"not a png")
    samples = find_samples(root, "folder", "train")
    with pytest.raises(DatasetError, match=str(broken)):
        count_split(samples, "folder", "train")
    counts = count_split(samples, "folder", "train", skip_unreadable=True)
    assert counts.files == 1 and counts.unreadable == [broken.stem]
    assert np.isfinite(counts.valid)
