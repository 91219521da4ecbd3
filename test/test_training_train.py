"""Real training through fanet-train's loop and loss: overfitting, resume after a kill, 2 replicas.

A tiny model built from the FANet blocks keeps these fast; it is registered
like FANet and FSFFNet, so it runs through exactly the same code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import pytest
from test_training_data import write_dataset

from fanet_training.models import MODELS, register_model
from fanet_training.models.blocks import classifier_head, conv_bn_act, sep_conv_bn_act
from fanet_training.train import TrainConfig, main, train

TEST_DIR = Path(__file__).parent

if "tiny_test" not in MODELS:

    @register_model("tiny_test", aux_taps=("tiny1_bn",))
    def build_tiny(num_classes: int, input_shape: tuple = (None, None, 3)) -> keras.Model:
        image = keras.layers.Input(input_shape, name="image")
        x = conv_bn_act(image, 16, 3, 2, "tiny1")
        x = sep_conv_bn_act(x, 32, 3, 1, "tiny2")
        return keras.Model(image, classifier_head(x, num_classes), name="tiny_test")


def _config(root: Path, run_dir: Path, **overrides) -> TrainConfig:
    options = dict(model="tiny_test", dataset_root=str(root), layout="folder",
                   run_dir=str(run_dir), height=64, width=64, batch_size=4, epochs=8,
                   optimizer="adam", learning_rate=0.02, end_learning_rate=1e-3,
                   warmup_epochs=0.0, workers=0, augment="legacy", aux_loss_weight=0.0,
                   class_weighting="none", copy_paste=0.0, weight_decay=0.0)
    options.update(overrides)
    return TrainConfig(**options)


def test_overfits_a_handful_of_images(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "data", count=8, splits=("train",))
    for kind in ("images", "labels"):  # validate on the very images it trains on
        shutil.copytree(root / kind / "train", root / kind / "val")
    keras.utils.set_random_seed(0)
    state = train(_config(root, tmp_path / "run", epochs=30, batch_size=2), verbose=0)
    assert state["best_val_miou"] >= 0.85, state["history"][-1]
    assert (tmp_path / "run" / "best.weights.h5").is_file()


class _KillAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if epoch == 1:
            raise KeyboardInterrupt("simulated kill")


def test_resume_continues_from_the_saved_epoch(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "data", count=8)
    config = _config(root, tmp_path / "run", epochs=3)
    with pytest.raises(KeyboardInterrupt):
        train(config, extra_callbacks=[_KillAfterFirstEpoch()], verbose=0)
    saved = json.loads((tmp_path / "run" / "state.json").read_text())
    assert saved["epoch"] == 1

    resumed_at = []

    class _Watch(keras.callbacks.Callback):
        def on_train_begin(self, logs: dict | None = None) -> None:
            resumed_at.append(int(self.model.optimizer.iterations))

    state = train(config, extra_callbacks=[_Watch()], verbose=0)
    assert resumed_at == [2]  # optimizer state restored: 1 epoch x 2 steps
    assert state["epoch"] == 3
    assert [h["epoch"] for h in state["history"]] == [1, 2, 3]


def test_cli_reports_a_missing_dataset(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["--dataset-root", str(tmp_path / "nowhere"), "--layout", "camvid",
                 "--run-dir", str(tmp_path / "run")])
    assert code == 2 and "nowhere" in capsys.readouterr().err


def test_two_replicas_on_cpu_logical_devices(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "data", count=4)
    script = textwrap.dedent(f"""
        import sys
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        sys.path.insert(0, {str(TEST_DIR)!r})
        import test_training_train  # registers tiny_test
        from fanet_training.train import main
        sys.exit(main(["--model", "tiny_test", "--dataset-root", {str(root)!r},
                       "--layout", "folder", "--run-dir", {str(tmp_path / "run")!r},
                       "--height", "64", "--width", "64", "--batch-size", "4",
                       "--epochs", "1", "--workers", "0", "--distribute", "mirrored",
                       "--verbose", "0"]))
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=180, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "2 replica(s)" in result.stdout
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert state["epoch"] == 1 and state["history"][0]["loss"] > 0
