"""The model card: written from the run's files, the evaluation and the robustness report."""

from __future__ import annotations

import json
from pathlib import Path

from fanet_ros.shipped_models import shipped_model_path
from fanet_training import run_state
from fanet_training.model_card import TRAIN_OPTIONS, main, train_command


def _run(tmp_path: Path, monitor: str | None) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    config = {"model": "fanet", "dataset_root": "/somewhere/camvid", "layout": "camvid",
              "height": 384, "width": 512, "epochs": 2, "run_dir": "campaign/fanet_final",
              "augment": "street", "aux_loss_weight": 0.4, "train_splits": "train,val",
              "holdout": "", "select": "last" if monitor is None else "best",
              "class_weighting": "none", "cache": True, "copy_paste": 0.5,
              "weight_decay": 0.5}
    history = [{"epoch": 1, "loss": 1.5, "seconds": 30.0},
               {"epoch": 2, "loss": 1.2, "seconds": 30.0, "holdout_miou": 0.41}]
    state = {"epoch": 2, "best_epoch": 2, "monitor": monitor, "history": history}
    run_state.write_json(run / run_state.CONFIG, config)
    run_state.write_json(run / run_state.STATE, state)
    return run


def test_card_names_the_schedule_the_recipe_and_the_robustness(tmp_path: Path) -> None:
    run = _run(tmp_path, None)
    metrics = {"mean_iou": 0.6, "pixel_accuracy": 0.9, "input_size": [384, 512],
               "split": "val", "class_iou": {"Sky": 0.9, "Pole": None}}
    robustness = {"model": "fanet_camvid.onnx", "split": "train", "drives": ["0006R0"],
                  "frames": 101, "results": {
                      "clean": {"mean_iou": 0.5, "pixel_accuracy": 0.88,
                                "class_iou": {"Pole": 0.1}},
                      "dark (gamma 2.2, gain 0.6)": {"mean_iou": 0.4, "pixel_accuracy": 0.8,
                                                     "class_iou": {"Pole": 0.05}}}}
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    (tmp_path / "robustness.json").write_text(json.dumps(robustness))
    (tmp_path / "extra.md").write_text("## Held-out drive\n\n41 %\n")
    card = tmp_path / "card.md"
    assert main([str(run), "--metrics", str(tmp_path / "metrics.json"), "--onnx",
                 str(shipped_model_path("fanet", "synthetic")), "--output", str(card),
                 "--title", "T", "--data-note", "D", "--export-command", "fanet-export x",
                 "--robustness", str(tmp_path / "robustness.json"),
                 "--extra-sections", str(tmp_path / "extra.md"),
                 "--schedule-run", str(run)]) == 0
    text = card.read_text()
    assert "the last epoch of a fixed schedule" in text
    assert "--augment street" in text and "--aux-loss-weight 0.4" in text
    assert "--train-splits train,val" in text and "--select last" in text
    assert "--holdout" not in text and "--class-weighting none" in text  # recipe spelt out
    assert "--copy-paste 0.5" in text and "--weight-decay 0.5" in text
    schedule = text.split("## The schedule on a held-out drive")[1]
    assert "| 2 | 41.00 |" in schedule and "| 1 |" not in schedule.split("##")[0]
    assert "/somewhere" not in text and "--dataset-root /data/camvid" in text
    assert "| 2 | 1.200 | - | 41.00 | 30 |" in text
    assert "## Per epoch (mIoU at 384x512, every epoch; held out" in text
    assert "## Robustness" in text and "| dark (gamma 2.2, gain 0.6) | 40.0 | 80.0 |" in text
    assert "--drives 0006R0" in text
    assert "| held-out drive mIoU | **50.00 %** (101 frames of 0006R0, scored with `run`, the " \
           "same recipe and schedule trained without 0006R0: these weights trained on it" in text
    assert f"fanet-robustness {run.as_posix()}/fanet_camvid.onnx --dataset-root" in text
    assert f"`fanet-export {run.as_posix()} --output {run.as_posix()}/fanet_camvid.onnx`" in text
    assert "RGB in [0, 1]" in text
    assert "## Held-out drive" in text


def test_a_config_of_an_older_fanet_train_says_what_it_does_not_record() -> None:
    config = {"model": "fanet", "epochs": 20, "run_dir": "runs/fanet_synthetic",
              "dataset_root": "/data/synth", "layout": "camvid"}
    command = train_command(config)
    assert command.splitlines()[-1].startswith("# run by an older fanet-train")
    assert "--augment" in command.splitlines()[-1] and "--copy-paste" in command.splitlines()[-1]
    assert "--head-dropout" not in command  # added without changing what training did
    full = {key: None for key in TRAIN_OPTIONS} | config
    assert "older fanet-train" not in train_command(full)
