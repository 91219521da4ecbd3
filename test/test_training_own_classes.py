"""A folder dataset's own classes (classes.json): trained, kept in the run folder, exported into
the model's metadata, evaluated, and what the Python API and the node then name and colour."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from dataset_files import write_dataset

pytest.importorskip("keras")

from fanet_ros.dataset_layouts import (  # noqa: E402
    DatasetError,
    label_set_for_layout,
    read_classes_file,
    read_label,
)
from fanet_ros.segmenter import Segmenter  # noqa: E402
from fanet_training import evaluate, export_cli  # noqa: E402
from fanet_training.train import TrainConfig, train  # noqa: E402

NAMES = [f"class_{i}" for i in range(13)]


def _thirteen_class_dataset(root: Path) -> Path:
    write_dataset(root, count=4, height=64, width=64)
    for label in root.glob("labels/*/*.png"):
        ids = cv2.imread(str(label), cv2.IMREAD_UNCHANGED)
        ids[:16, :16] = 12  # ids past CamVid's 11 classes
        cv2.imwrite(str(label), ids)
    (root / "classes.json").write_text(json.dumps({"names": NAMES, "name": "my_robot"}))
    return root


def test_a_folder_datasets_own_classes_go_from_training_to_the_model(tmp_path: Path) -> None:
    """Before: the folder layout was CamVid's 11 classes: id 12 was read as void, and the
    exported model named CamVid's classes in CamVid's colours."""
    root = _thirteen_class_dataset(tmp_path / "data")
    label = next(root.glob("labels/train/*.png"))
    assert read_label(label, "folder", label_set_for_layout("folder", root).num_classes
                      )[:16, :16].max() == 12
    run = tmp_path / "run"
    train(TrainConfig(model="fanet", dataset_root=str(root), layout="folder", run_dir=str(run),
                      height=64, width=64, batch_size=2, epochs=1, workers=0,
                      augment="legacy", aux_loss_weight=0.0, class_weighting="none",
                      copy_paste=0.0, weight_decay=0.0), verbose=0)
    assert read_classes_file(run / "classes.json").class_names == tuple(NAMES)
    model = tmp_path / "model.onnx"
    assert export_cli.main([str(run), "--output", str(model)]) == 0
    with Segmenter(model, device=-1) as segmenter:
        assert segmenter.class_names == tuple(NAMES)
        assert segmenter.metadata.dataset == "my_robot" and len(segmenter.colors) == 13
        assert segmenter(np.zeros((64, 64, 3), np.uint8)).labels.max() < 13
    assert evaluate.main([str(run), "--dataset-root", str(root), "--output-dir",
                          str(tmp_path / "eval")]) == 0
    (root / "classes.json").write_text(json.dumps({"names": NAMES[::-1]}))  # reordered
    assert evaluate.main([str(run / "best.weights.h5"), "--dataset-root", str(root),
                          "--output-dir", str(tmp_path / "eval")]) == 2


def test_a_resumed_run_refuses_a_dataset_whose_classes_changed(tmp_path: Path) -> None:
    from fanet_training.train import keep_classes_file

    root = _thirteen_class_dataset(tmp_path / "data")
    config = TrainConfig(model="fanet", dataset_root=str(root), layout="folder",
                         run_dir=str(tmp_path / "run"))
    (tmp_path / "run").mkdir()
    keep_classes_file(config, tmp_path / "run", resumed=False)
    moved = root.rename(tmp_path / "moved")  # the same table from another folder: resumes
    keep_classes_file(replace(config, dataset_root=str(moved)), tmp_path / "run", resumed=True)
    (moved / "classes.json").write_text(json.dumps({"names": NAMES[:12]}))
    with pytest.raises(ValueError, match="is not the class table"):
        keep_classes_file(replace(config, dataset_root=str(moved)), tmp_path / "run",
                          resumed=True)
    (moved / "classes.json").unlink()  # a new start on a dataset without one drops the copy
    keep_classes_file(replace(config, dataset_root=str(moved)), tmp_path / "run", resumed=False)
    assert not (tmp_path / "run" / "classes.json").exists()


def test_the_gpu_pack_keeps_a_folder_datasets_own_classes(tmp_path: Path) -> None:
    from fanet_training.gpu_pack.dataset import reencode

    root = _thirteen_class_dataset(tmp_path / "data")
    reencode(root, "folder", tmp_path / "pack")
    assert read_classes_file(tmp_path / "pack" / "classes.json").class_names == tuple(NAMES)
    label = next((tmp_path / "pack" / "labels" / "train").iterdir())
    assert read_label(label, "folder", 13)[:16, :16].max() == 12


def test_a_class_table_that_cannot_be_used_says_what_it_holds(tmp_path: Path) -> None:
    bad = tmp_path / "classes.json"
    bad.write_text(json.dumps({"names": ["road", "grass"], "colors": [[1, 2, 3]]}))
    with pytest.raises(DatasetError, match=r"class table '.*classes.json' cannot be used"):
        read_classes_file(bad)
