"""Real training through fanet-train's loop and loss: overfitting, resume after a kill, 2 replicas.

A tiny model built from the FANet blocks keeps these fast; it is registered
like FANet and FSFFNet, so it runs through exactly the same code.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from dataclasses import replace
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
from dataset_files import write_dataset

from fanet_training.models import MODELS, build_model, register_model
from fanet_training.models.blocks import classifier_head, conv_bn_act, sep_conv_bn_act
from fanet_training.train import TrainConfig, main, train
from fanet_training.weight_average import EMA, WeightAverage

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
    # 0.89 here; 0.85 from epoch 29, so oneDNN's results on another CPU may land near it
    assert state["best_val_miou"] >= 0.8, state["history"][-1]
    assert (tmp_path / "run" / "best.weights.h5").is_file()


class KillBeforeEpoch(keras.callbacks.Callback):
    """Interrupts training as a kill would, when epoch ``epoch`` (0-based) begins."""

    def __init__(self, epoch: int = 1) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if epoch == self.epoch:
            raise KeyboardInterrupt("simulated kill")


def test_resume_continues_from_the_saved_epoch(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "data", count=8)
    config = _config(root, tmp_path / "run", epochs=3)
    with pytest.raises(KeyboardInterrupt):
        train(config, extra_callbacks=[KillBeforeEpoch(1)], verbose=0)
    saved = json.loads((tmp_path / "run" / "state.json").read_text())
    assert saved["epoch"] == 1

    assert not (tmp_path / "run" / "optimizer.npz").exists()  # the checkpoint holds it
    with h5py.File(tmp_path / "run" / "checkpoint.weights.h5") as saved:
        momenta = [saved[f"optimizer/vars/{i}"][()] for i in range(len(saved["optimizer/vars"]))]
    resumed = []

    class _Watch(keras.callbacks.Callback):
        def on_train_begin(self, logs: dict | None = None) -> None:
            resumed.append([keras.ops.convert_to_numpy(v) for v in self.model.optimizer.variables])

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        state = train(config, extra_callbacks=[_Watch()], verbose=0)
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)]
    assert int(resumed[0][0]) == 2  # optimizer state restored: 1 epoch x 2 steps
    assert len(resumed[0]) == len(momenta) > 1
    assert all(np.array_equal(a, b) for a, b in zip(resumed[0], momenta))
    assert state["epoch"] == 3
    assert [h["epoch"] for h in state["history"]] == [1, 2, 3]




def test_resume_refuses_a_dataset_whose_frames_changed(tmp_path: Path) -> None:
    """Before: the steps per epoch were recounted from the frames there now, and the
    learning-rate schedule (built on them) jumped mid-run."""
    root = write_dataset(tmp_path / "data", count=8)
    config = _config(root, tmp_path / "run", epochs=3)
    with pytest.raises(KeyboardInterrupt):
        train(config, extra_callbacks=[KillBeforeEpoch(1)], verbose=0)
    write_dataset(tmp_path / "more", count=8, seed=1, splits=("train",))
    for kind in ("images", "labels"):  # a team adds 8 newly labelled frames
        for path in (tmp_path / "more" / kind / "train").iterdir():
            path.rename(root / kind / "train" / f"new_{path.name}")
    with pytest.raises(ValueError, match=r"trained 1 epochs of 2 steps, and the dataset now "
                       r"gives 4 steps per epoch \(16 training frames\)"):
        train(config, verbose=0)

def test_a_resumed_run_trains_on_the_batches_of_one_never_stopped(tmp_path: Path,
                                                                  monkeypatch) -> None:
    from fanet_training.data import SegmentationDataset

    root = write_dataset(tmp_path / "data", count=8)
    epoch = [-1]
    batches: list[tuple[int, tuple[int, ...]]] = []
    """(Keras epoch, frame ids) of each training batch, in the order they were loaded."""
    load = SegmentationDataset.__getitem__

    def recorded(self, index):
        if self.training and epoch[0] >= 0:  # not Keras's look at the data before fitting
            size = self.config.batch_size
            batches.append((epoch[0], tuple(int(i) for i in
                                            self._order[index * size:(index + 1) * size])))
        return load(self, index)

    class _Epochs(keras.callbacks.Callback):
        def on_epoch_begin(self, index: int, logs: dict | None = None) -> None:
            epoch[0] = index

    def run(config: TrainConfig, *callbacks: keras.callbacks.Callback) -> list:
        batches.clear()
        epoch[0] = -1
        train(config, extra_callbacks=[_Epochs(), *callbacks], verbose=0)
        return [b for b in batches if b[0] >= 1]

    monkeypatch.setattr(SegmentationDataset, "__getitem__", recorded)
    whole = run(_config(root, tmp_path / "whole", epochs=3, batch_size=1))
    config = _config(root, tmp_path / "resumed", epochs=3, batch_size=1)
    with pytest.raises(KeyboardInterrupt):
        run(config, KillBeforeEpoch(1))
    assert run(config) == whole  # epochs 2 and 3: 8 batches each, in the same order
    assert len(whole) == 16 and [b[1] for b in whole[:8]] != [b[1] for b in whole[8:]]


def checkpoint_arrays(run_dir: Path) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    with h5py.File(run_dir / "checkpoint.weights.h5") as weights:
        weights.visititems(lambda name, item: arrays.__setitem__(name, np.asarray(item[()]))
                           if isinstance(item, h5py.Dataset) else None)
    return arrays


@pytest.mark.parametrize("options", [
    {"head_dropout": 0.35},
    {"head_dropout": 0.0, "steps_per_epoch": 1, "workers": 2},
], ids=["dropout", "steps-per-epoch-with-workers"])
def test_a_resumed_run_ends_with_the_weights_of_one_never_stopped(tmp_path: Path,
                                                                   options: dict) -> None:
    """Keras keeps dropout's random stream in a variable weights files leave out: a resumed
    run replayed its first epoch's masks. With ``--steps-per-epoch`` below an epoch Keras
    kept one iterator across epochs, whose workers built a batch of the old order before the
    reshuffle: a resumed run trained on other batches. Both ended away from a whole run."""
    root = write_dataset(tmp_path / "data", count=8)

    def run(name: str, *callbacks: keras.callbacks.Callback) -> None:
        keras.utils.set_random_seed(0)  # as fanet-train does at every start
        train(_config(root, tmp_path / name, epochs=3, **options),
              extra_callbacks=list(callbacks), verbose=0)

    run("whole")
    with pytest.raises(KeyboardInterrupt):
        run("resumed", KillBeforeEpoch(2))
    run("resumed")
    whole, resumed = checkpoint_arrays(tmp_path / "whole"), checkpoint_arrays(tmp_path / "resumed")
    assert whole.keys() == resumed.keys()
    for name, array in whole.items():
        np.testing.assert_array_equal(array, resumed[name], err_msg=name)


def test_extra_train_root_adds_training_frames_never_scored(tmp_path: Path) -> None:
    """``--extra-train-root``: e.g. generated streets beside CamVid's two training drives."""
    from fanet_ros.dataset_layouts import CLASSES_FILE, write_classes_file
    from fanet_ros.labels import CAMVID, LabelSet
    from fanet_training.train import datasets

    root = write_dataset(tmp_path / "data", count=8)
    extra = write_dataset(tmp_path / "extra", count=4, splits=("train",), seed=1)
    config = _config(root, tmp_path / "run", epochs=1, extra_train_root=str(extra))
    trained, scored = datasets(config, 1)
    extra_images = {s.image_path for s in trained.samples if extra in s.image_path.parents}
    assert len(extra_images) == 4 and len(trained.samples) == 8 + 4
    assert not any(extra in s.image_path.parents for d in scored.values() for s in d.samples)
    state = train(config, verbose=0)
    assert state["steps_per_epoch"] == (8 + 4) // 4  # batch 4
    other = write_dataset(tmp_path / "other", count=4, splits=("train",))
    write_classes_file(LabelSet("five", CAMVID.class_names[:5], CAMVID.colors[:5]),
                       other / CLASSES_FILE)
    with pytest.raises(ValueError, match=r"--extra-train-root .*other: its classes \(Sky, "):
        train(_config(root, tmp_path / "run2", epochs=1, extra_train_root=str(other)),
              verbose=0)


def test_extra_train_root_refuses_frames_of_a_held_out_drive(tmp_path: Path) -> None:
    """Before: they trained and were scored on, with no word (the held-out figure then
    measured memory)."""
    from fanet_training.train import datasets

    root = write_dataset(tmp_path / "data", count=4)
    extra = write_dataset(tmp_path / "extra", count=2, splits=("train",), seed=1)
    config = _config(root, tmp_path / "run", holdout="frame_000", extra_train_root=str(extra))
    with pytest.raises(ValueError, match=r"--extra-train-root .*extra: 1 of its frames are "
                       r"scored or of a held-out drive \(frame_000\); leave them out"):
        datasets(config, 1)


def test_resume_refuses_other_training_frames_of_the_same_count(tmp_path: Path) -> None:
    """Before: another --extra-train-root of the same size resumed, and its class weights
    were recounted and overwritten mid-run."""
    root = write_dataset(tmp_path / "data", count=8)
    extra = write_dataset(tmp_path / "extra", count=4, splits=("train",), seed=1)
    config = _config(root, tmp_path / "run", epochs=3, extra_train_root=str(extra),
                     class_weighting="median-frequency")
    with pytest.raises(KeyboardInterrupt):
        train(config, extra_callbacks=[KillBeforeEpoch(1)], verbose=0)
    weights = (tmp_path / "run" / "class_weights.json").read_text()
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    del state["train_frames"]  # a run from before: its class weights' digest stands in
    (tmp_path / "run" / "state.json").write_text(json.dumps(state))
    config_file = (tmp_path / "run" / "config.json").read_text()
    other = write_dataset(tmp_path / "other", count=4, splits=("train",), seed=2)
    for kind in ("images", "labels"):  # the same count of other frames
        for path in (other / kind / "train").iterdir():
            path.rename(path.with_name(f"other_{path.name}"))
    with pytest.raises(ValueError, match=r"trained 1 epochs on other frames than the 12 its "
                       r"dataset roots give now"):
        train(replace(config, extra_train_root=str(other)), verbose=0)
    assert (tmp_path / "run" / "class_weights.json").read_text() == weights
    assert (tmp_path / "run" / "config.json").read_text() == config_file  # nothing rewritten


def test_resume_refuses_options_that_would_change_the_run(tmp_path: Path) -> None:
    """A changed --epochs or --learning-rate would bend the schedule at the restored step;
    where the data lives and how it loads may change (a new machine)."""
    root = write_dataset(tmp_path / "data", count=4)
    config = _config(root, tmp_path / "run", epochs=2)
    with pytest.raises(KeyboardInterrupt):
        train(config, extra_callbacks=[KillBeforeEpoch(1)], verbose=0)
    changed = replace(config, epochs=3, learning_rate=0.01, class_weighting="median-frequency")
    with pytest.raises(ValueError) as refused:
        train(changed, verbose=0)
    message = str(refused.value)
    for change in ("--epochs 2 -> 3", "--learning-rate 0.02 -> 0.01",
                   "--class-weighting 'none' -> 'median-frequency'", "config.json"):
        assert change in message, message
    moved = tmp_path / "moved"
    shutil.copytree(root, moved)
    state = train(replace(config, dataset_root=str(moved), workers=1, cache=True), verbose=0)
    assert state["epoch"] == 2


def test_a_run_resumes_in_the_precision_it_trained_in(tmp_path: Path) -> None:
    """A mixed-precision run (``auto`` on a GPU) resumed with ``auto`` on a machine without
    one keeps mixed precision, so its loss-scaled optimizer state loads."""
    root = write_dataset(tmp_path / "data", count=4)
    config = _config(root, tmp_path / "run", epochs=2, mixed_precision="on")
    try:
        with pytest.raises(KeyboardInterrupt):
            train(config, extra_callbacks=[KillBeforeEpoch(1)], verbose=0)
        saved = json.loads((tmp_path / "run" / "config.json").read_text())
        assert saved["mixed_precision"] == "on"
        state = train(replace(config, mixed_precision="auto"), verbose=0)
        assert state["epoch"] == 2
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_resume_refuses_a_checkpoint_without_this_optimizers_state(tmp_path: Path) -> None:
    from fanet_training import run_state

    model = build_model("tiny_test", 3, (32, 32, 3))
    model.compile(optimizer=keras.optimizers.SGD(momentum=0.9), loss="mse")
    model.save_weights(tmp_path / "checkpoint.weights.h5")  # SGD's, unbuilt
    model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    with pytest.raises(ValueError, match="restored no optimizer state"):
        run_state.load_checkpoint(model, tmp_path / "checkpoint.weights.h5")

def test_cli_reports_a_missing_dataset(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["--dataset-root", str(tmp_path / "nowhere"), "--layout", "camvid",
                 "--run-dir", str(tmp_path / "run")])
    assert code == 2 and "nowhere" in capsys.readouterr().err


def test_cli_refuses_an_ema_decay_outside_0_1_before_writing_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = write_dataset(tmp_path / "data", count=4)
    code = main(["--dataset-root", str(root), "--layout", "folder", "--run-dir",
                 str(tmp_path / "run"), "--ema", "1.5"])
    assert code == 2 and "--ema 1.5: the decay must lie between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "run" / "config.json").exists()


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


def test_stopped_time_counts_a_sigstop_pause_and_nothing_else() -> None:
    """A paused campaign (SIGSTOP ... SIGCONT) must not inflate an epoch's seconds."""
    script = textwrap.dedent("""
        import sys
        from fanet_training.callbacks import StoppedTime
        meter = StoppedTime(tick=0.05, tolerance=1.0)
        for line in sys.stdin:
            print(meter.seconds, flush=True)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)

    def stopped_so_far() -> float:
        child.stdin.write("?\n")
        child.stdin.flush()
        return float(child.stdout.readline())

    try:
        time.sleep(1.0)
        assert stopped_so_far() == 0.0  # running, however busy the machine
        child.send_signal(signal.SIGSTOP)
        time.sleep(3.0)
        child.send_signal(signal.SIGCONT)
        deadline, stopped = time.monotonic() + 10.0, 0.0
        while stopped < 2.0 and time.monotonic() < deadline:  # its watcher wakes up first
            stopped = stopped_so_far()
        assert 2.0 <= stopped <= 6.0  # 3 s stopped; a loaded machine oversleeps
    finally:
        child.kill()
        child.wait()


def test_weight_average_warms_up_and_swaps_in_only_inside_its_block() -> None:
    model = keras.Sequential([keras.layers.Input((3,)), keras.layers.Dense(2),
                              keras.layers.BatchNormalization()])
    start = [w.copy() for w in model.get_weights()]
    average = WeightAverage(0.999)
    average.set_model(model)
    average.on_train_begin()
    moved = [w + 1.0 for w in start]
    model.set_weights(moved)
    average.on_train_batch_end(0)  # first update: decay min(0.999, 2 / 11)
    expected = [2 / 11 * s + 9 / 11 * m for s, m in zip(start, moved)]
    with average.applied():  # the BatchNorm statistics are averaged too
        for got, want in zip(model.get_weights(), expected):
            np.testing.assert_allclose(got, want, rtol=1e-6)
    for got, want in zip(model.get_weights(), moved):
        np.testing.assert_array_equal(got, want)


def test_ema_run_scores_both_ships_the_average_and_resumes_it(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "data", count=8)
    config = _config(root, tmp_path / "run", epochs=3, ema=0.9, select="last")
    with pytest.raises(KeyboardInterrupt):
        train(config, extra_callbacks=[KillBeforeEpoch(1)], verbose=0)
    with np.load(tmp_path / "run" / EMA) as saved:
        assert int(saved["updates"]) == 2  # 1 epoch x 2 steps

    state = train(config, verbose=0)
    last = state["history"][-1]
    assert {"val_miou", "val_raw_miou"} <= set(last)
    with np.load(tmp_path / "run" / EMA) as saved:
        assert int(saved["updates"]) == 6  # resumed, not restarted
    # the last epoch ships its average (best.weights.h5), not the last step's weights
    best = _weights(tmp_path / "run" / "best.weights.h5")
    checkpoint = _weights(tmp_path / "run" / "checkpoint.weights.h5")
    assert best.keys() == checkpoint.keys()
    assert any(not np.allclose(best[k], checkpoint[k]) for k in best)


@pytest.mark.parametrize(("killed_after", "occurrence"), [
    ("tmp.ema.npz", 2),  # epoch 2's files half written: the run resumes after epoch 1
    ("state.json", 3),  # epoch 2's state names its files, none moved yet
    ("checkpoint.weights.h5", 2),  # epoch 2's checkpoint in place, its average not yet
])
def test_a_kill_while_an_epoch_is_saved_resumes_one_consistent_epoch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, killed_after: str,
        occurrence: int) -> None:
    from fanet_training import run_state

    root = write_dataset(tmp_path / "data", count=8)
    config = _config(root, tmp_path / "run", epochs=3, ema=0.9, select="last")
    real_replace, moved = os.replace, []

    def killed_once_there(src, dst) -> None:
        real_replace(src, dst)
        moved.append(Path(dst).name)
        if moved.count(killed_after) == occurrence:
            raise KeyboardInterrupt("simulated kill")

    monkeypatch.setattr(run_state.os, "replace", killed_once_there)
    with pytest.raises(KeyboardInterrupt):
        train(config, verbose=0)
    monkeypatch.setattr(run_state.os, "replace", real_replace)
    state = train(config, verbose=0)
    assert [h["epoch"] for h in state["history"]] == [1, 2, 3]
    with h5py.File(tmp_path / "run" / "checkpoint.weights.h5") as saved:
        assert int(saved["optimizer/vars/0"][()]) == 6  # 3 epochs x 2 steps, none twice
    with np.load(tmp_path / "run" / EMA) as saved:
        assert int(saved["updates"]) == 6
    assert "pending" not in json.loads((tmp_path / "run" / "state.json").read_text())


def _weights(path: Path) -> dict[str, np.ndarray]:
    """A .weights.h5 file's arrays by their path inside it."""
    arrays: dict[str, np.ndarray] = {}
    with h5py.File(path) as handle:
        handle.visititems(lambda name, item: arrays.__setitem__(name, item[()])
                          if isinstance(item, h5py.Dataset) else None)
    return arrays


def test_kept_class_weights_are_reused_only_for_the_same_method_and_frames(
        tmp_path: Path, capsys) -> None:
    from fanet_training.train import find_learning_rate

    root = write_dataset(tmp_path / "data", count=4)
    path = tmp_path / "run" / "class_weights.json"

    def weights_after(**overrides) -> dict:
        config = _config(root, tmp_path / "run", **overrides)
        find_learning_rate(config, steps=2, verbose=0)
        return json.loads(path.read_text())

    median = weights_after(class_weighting="median-frequency")
    assert weights_after(class_weighting="median-frequency") == median  # kept
    square_root = weights_after(class_weighting="sqrt-median-frequency")
    assert square_root["method"] == "sqrt-median-frequency"
    assert square_root["weights"] != median["weights"]
    assert "computing the class weights again" in capsys.readouterr().out
    held_out = weights_after(class_weighting="sqrt-median-frequency", holdout="frame_000")
    assert held_out["frames"] != square_root["frames"]
    assert held_out["pixels"] != square_root["pixels"]  # counted without frame_000


def test_lr_find_sweeps_with_the_loss_training_uses(tmp_path: Path) -> None:
    from fanet_training.train import find_learning_rate

    root = write_dataset(tmp_path / "data", count=4)
    config = _config(root, tmp_path / "run", class_weighting="median-frequency")
    find_learning_rate(config, steps=6, verbose=0)
    found = json.loads((tmp_path / "run" / "lr_find.json").read_text())
    assert len(found["history"]) == 6
    rates = [rate for rate, _ in found["history"]]
    assert rates == sorted(rates) and rates[0] >= 1e-5  # an exponential sweep upwards
    weights = json.loads((tmp_path / "run" / "class_weights.json").read_text())
    assert weights["method"] == "median-frequency"  # the class-weighted loss, as training's


def test_losses_average_over_replicas_so_n_gpus_take_one_gpus_step() -> None:
    """MirroredStrategy sums the replicas' gradients: a loss must be scaled by 1/N (Keras does
    it for a loss with a batch axis, not for a scalar), else N GPUs step N times as far."""
    script = textwrap.dedent("""
        import contextlib
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras
        import numpy as np
        from fanet_training.losses import (
            DistillationLoss, LovaszSoftmax, SegmentationCrossEntropy)

        rng = np.random.default_rng(0)
        x = rng.normal(size=(4, 8, 8, 3)).astype("float32")
        labels = rng.integers(0, 3, (4, 8, 8)).astype("int32")
        teacher = rng.dirichlet(np.ones(3), (4, 8, 8)).astype("float32")

        def step(scope, loss, y):
            with scope:
                keras.utils.set_random_seed(1)
                model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(3, 1)])
                before = model.get_weights()[0].copy()
                model.compile(optimizer=keras.optimizers.SGD(1.0), loss=loss)
            model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
            return np.abs(model.get_weights()[0] - before).sum()

        mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        for loss, y in ((lambda: SegmentationCrossEntropy(from_logits=True), labels),
                        (lambda: LovaszSoftmax(stride=1), labels),
                        (DistillationLoss, teacher)):
            ratio = step(mirrored.scope(), loss(), y) / step(contextlib.nullcontext(), loss(), y)
            print(type(loss()).__name__, round(float(ratio), 3))
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=180, env=env, cwd=TEST_DIR.parent)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    ratios = {name: float(ratio) for name, ratio in (
        line.split() for line in result.stdout.splitlines() if line.count(" ") == 1)}
    assert ratios.keys() == {"SegmentationCrossEntropy", "LovaszSoftmax", "DistillationLoss"}
    # Lovász sorts each replica's pixels apart, so its two halves differ slightly from the whole
    assert all(0.97 < ratio < 1.03 for ratio in ratios.values()), ratios  # 2.0 unscaled
