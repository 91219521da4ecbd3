"""fanet-train's recipe pieces: from-logits loss, class weights, crops, copy-paste, weight
decay, validation cadence, and starting from earlier weights (resume and --init-from)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest
from dataset_files import write_dataset
from test_training_train import KillBeforeEpoch, _config

import fanet_training.class_weights as class_weights_module
from fanet_ros.dataset_layouts import find_samples, label_set_for_layout, read_label
from fanet_ros.preprocessing import resize_image
from fanet_training.augment import (
    STREET,
    AugmentConfig,
    augment,
    augment_config,
    half_of_the_classes,
    jpeg_round_trip,
    paste_objects,
    random_crop_resize,
)
from fanet_training.class_weights import (
    class_pixel_counts,
    class_weights,
    median_frequency_weights,
    rarer_than_median,
)
from fanet_training.data import DataConfig, SegmentationDataset
from fanet_training.init_weights import WeightsSource, init_from, resolve_weights_source
from fanet_training.losses import SegmentationCrossEntropy
from fanet_training.models import build_model
from fanet_training.source_checks import check_source
from fanet_training.train import (
    class_weights_for,
    config_from_args,
    datasets,
    new_optimizer,
    parse_args,
    set_head_dropout,
    train,
    with_defaults_resolved,
)


def _logits_and_labels(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # moderate logits: the loss on probabilities clips them at 1e-7, the from-logits one does not
    logits = rng.normal(0, 1.5, (2, 16, 24, 5)).astype(np.float32)
    labels = rng.integers(0, 5, (2, 16, 24)).astype(np.uint8)
    labels[:, :3] = 255  # void rows are ignored
    return logits, labels


@pytest.mark.parametrize("weights", [None, [0.5, 1.0, 2.0, 4.0, 0.25]])
def test_loss_from_logits_equals_the_loss_on_probabilities(weights) -> None:
    logits, labels = _logits_and_labels()
    probabilities = keras.ops.softmax(logits, axis=-1)
    on_logits = SegmentationCrossEntropy(from_logits=True, class_weights=weights)(labels, logits)
    on_probs = SegmentationCrossEntropy(class_weights=weights)(labels, probabilities)
    np.testing.assert_allclose(float(on_logits), float(on_probs), rtol=1e-5)


def test_class_weights_weight_each_pixel_by_its_true_class() -> None:
    logits, labels = _logits_and_labels(1)
    weights = [0.5, 1.0, 2.0, 4.0, 0.25]
    per_pixel = -keras.ops.convert_to_numpy(keras.ops.log_softmax(logits, axis=-1))
    valid = labels != 255
    ids = np.where(valid, labels, 0)
    pixel_loss = np.take_along_axis(per_pixel, ids[..., None].astype(int), -1)[..., 0]
    pixel_weight = np.asarray(weights)[ids] * valid
    expected = (pixel_loss * pixel_weight).sum() / pixel_weight.sum()
    got = SegmentationCrossEntropy(from_logits=True, class_weights=weights)(labels, logits)
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)


def test_median_frequency_weights_favour_rare_classes(tmp_path: Path) -> None:
    # class 0: 3/4 of every image; class 1: 1/4 of every image; class 2: 1/16 of one image
    pixels = np.array([3 * 64, 64, 16])
    image_pixels = np.array([256, 256, 256])
    weights = median_frequency_weights(pixels, image_pixels)
    assert weights[2] > weights[1] > weights[0]
    assert weights[1] == pytest.approx(1.0)  # the median class
    assert median_frequency_weights(np.array([5, 0]), np.array([10, 0]))[1] == 1.0  # absent
    root = write_dataset(tmp_path / "data", count=3)
    counted, seen = class_pixel_counts(find_samples(str(root), "folder", "train"), "folder", 4)
    assert counted.sum() > 0 and (seen >= counted).all()


def test_crops_keep_the_scale_of_the_full_size_output() -> None:
    image = np.arange(360 * 480 * 3, dtype=np.uint32).reshape(360, 480, 3).astype(np.uint8)
    labels = np.zeros((360, 480), np.uint8)
    unzoomed = AugmentConfig(min_zoom=1.0, max_zoom=1.0)
    full = random_crop_resize(image, labels, 384, 512, unzoomed, np.random.default_rng(0))
    crop = random_crop_resize(image, labels, 384, 512, unzoomed, np.random.default_rng(0),
                              (192, 256))
    assert full[0].shape == (384, 512, 3) and crop[0].shape == (192, 256, 3)
    assert crop[1].shape == (192, 256)
    # zoom 1 on the full size is the whole frame; a half-size crop is a quarter of it,
    # resized by the same factor (512 / 480)
    np.testing.assert_array_equal(full[0], resize_image(image, 384, 512))
    assert (crop[1] == 0).all()


def test_zooming_out_pads_with_void_and_street_scenes_are_never_upside_down() -> None:
    image = np.full((360, 480, 3), 200, np.uint8)
    labels = np.zeros((360, 480), np.uint8)
    half = AugmentConfig(min_zoom=0.5, max_zoom=0.5)
    pixels, out = random_crop_resize(image, labels, 384, 512, half, np.random.default_rng(0))
    # the whole frame fills half of each side: a quarter of the output, the rest is padding
    assert (out == 0).mean() == pytest.approx(0.25, abs=0.01)
    assert set(np.unique(out)) == {0, 255}
    assert (pixels[out == 255] == 0).mean() > 0.98  # black, but for the blended edge
    mean_fill = replace(half, pad_fill="mean")
    image[:180] = 100  # mean colour 150
    pixels, out = random_crop_resize(image, labels, 384, 512, mean_fill, np.random.default_rng(0))
    assert set(np.unique(out)) == {0, 255}
    assert (pixels[out == 255] == 150).mean() > 0.98  # the frame's mean colour instead
    assert STREET.vflip == 0 and STREET.min_zoom <= 0.5 and STREET.max_zoom >= 2.0
    top_half = np.zeros((64, 64), np.uint8)
    top_half[32:] = 1  # class 1 at the bottom, like a road
    for seed in range(20):
        _, flipped = augment(np.zeros((64, 64, 3), np.uint8), top_half, 64, 64,
                             replace(STREET, min_zoom=1.0, max_zoom=1.0),
                             np.random.default_rng(seed))
        assert (flipped[40:] == 1).all() and (flipped[:24] == 0).all()


def test_street_photometric_changes_stay_in_range_and_cover_dark_frames() -> None:
    image = np.full((48, 64, 3), 128, np.uint8)
    labels = np.zeros((48, 64), np.uint8)
    means = []
    for seed in range(60):
        pixels, _ = augment(image, labels, 48, 64, STREET, np.random.default_rng(seed))
        assert pixels.dtype == np.float32 and 0.0 <= pixels.min() and pixels.max() <= 1.0
        means.append(pixels.mean())
    assert min(means) < 0.25 and max(means) > 0.6  # dusk-dark to bright frames
    jpeg = jpeg_round_trip(np.full((16, 16, 3), 0.5, np.float32), 50)
    assert np.abs(jpeg - 0.5).max() < 0.02
    with pytest.raises(ValueError, match="legacy"):
        augment_config("autumn")


def test_sqrt_median_frequency_weights_are_milder() -> None:
    pixels, image_pixels = np.array([3 * 64, 64, 16]), np.array([256, 256, 256])
    full = class_weights("median-frequency", pixels, image_pixels)
    mild = class_weights("sqrt-median-frequency", pixels, image_pixels)
    np.testing.assert_allclose(mild, np.sqrt(full), atol=1e-3)
    assert mild[2] < full[2] and mild[0] > full[0]


def test_validation_every_n_epochs_and_after_the_last(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "data", count=4)
    state = train(_config(root, tmp_path / "run", epochs=5, val_every=2, crop_height=32,
                          crop_width=32), verbose=0)
    validated = [h["epoch"] for h in state["history"] if "val_miou" in h]
    assert validated == [2, 4, 5]
    assert state["best_epoch"] in validated
    # the figure is that of the weights trained so far: score the last checkpoint afresh
    from fanet_training.callbacks import confusion_over
    from fanet_training.data import DataConfig, SegmentationDataset

    val = SegmentationDataset(DataConfig(str(root), "folder", 64, 64, 4, 0), "val",
                              training=False)
    model = build_model("tiny_test", val.label_set.num_classes, (64, 64, 3), output="logits")
    model.load_weights(tmp_path / "run" / "checkpoint.weights.h5")
    scores = confusion_over(model, val, val.label_set).scores(val.label_set)
    assert scores.mean_iou == pytest.approx(state["history"][-1]["val_miou"], abs=1e-6)


def _one_batch(root: Path) -> tuple[np.ndarray, np.ndarray]:
    from fanet_training.data import DataConfig, SegmentationDataset

    data = SegmentationDataset(DataConfig(str(root), "folder", 64, 64, 4, 0), "val",
                               training=False)
    return data[0]


def test_init_from_a_run_starts_from_its_weights(tmp_path: Path, capsys) -> None:
    root = write_dataset(tmp_path / "data", count=4)
    train(_config(root, tmp_path / "first", epochs=2), verbose=0)
    source = resolve_weights_source(str(tmp_path / "first"))
    classes = label_set_for_layout("folder").num_classes
    assert source == WeightsSource(tmp_path / "first" / "best.weights.h5", "tiny_test", classes)

    def build(name: str, classes: int) -> keras.Model:
        return build_model(name, classes, (64, 64, 3), output="logits")

    saved = build("tiny_test", classes)
    saved.load_weights(source.path)
    copied = build("tiny_test", classes)
    assert init_from(copied, source, build) == []
    images, labels = _one_batch(root)
    loss = SegmentationCrossEntropy(from_logits=True)
    np.testing.assert_allclose(float(loss(labels, copied.predict_on_batch(images))),
                               float(loss(labels, saved.predict_on_batch(images))), rtol=1e-6)
    other_classes = build("tiny_test", classes + 3)  # another dataset: fresh classifier only
    assert init_from(other_classes, source, build) == ["classifier_conv"]
    for layer in other_classes.layers:
        if layer.get_weights() and layer.name != "classifier_conv":
            for mine, theirs in zip(layer.get_weights(), saved.get_layer(layer.name).get_weights()):
                np.testing.assert_array_equal(mine, theirs)
    # through fanet-train: the first step starts from the same loss as the source run's weights
    state = train(_config(root, tmp_path / "second", epochs=1, init_from=str(tmp_path / "first"),
                          learning_rate=1e-9, end_learning_rate=1e-9), verbose=0)
    assert "initialised from" in capsys.readouterr().out
    assert json.loads((tmp_path / "second" / "config.json").read_text())["init_from"]
    assert state["epoch"] == 1


def test_init_from_names_what_ships_when_the_name_is_unknown() -> None:
    with pytest.raises(ValueError, match="shipped"):
        resolve_weights_source("no_such_model")


def test_held_out_drives_are_scored_and_never_trained(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "data", count=4)  # frame_000..003 in train and in val
    train_data, scored = datasets(_config(root, tmp_path / "run", holdout="frame_000"), 1)
    assert sorted(scored) == ["holdout", "val"]
    assert not any(s.name.startswith("frame_000") for s in train_data.samples)
    assert [s.name for s in scored["holdout"].samples] == ["frame_000", "frame_000"]
    assert len(scored["val"].samples) == 3 and len(train_data.samples) == 3
    train_data, scored = datasets(_config(root, tmp_path / "run", holdout="frame_000",
                                          train_splits="train,val"), 1)
    assert list(scored) == ["holdout"] and len(train_data.samples) == 6
    with pytest.raises(ValueError, match="no frame"):
        datasets(_config(root, tmp_path / "run", holdout="0006R0"), 1)


def test_the_held_out_drive_never_chooses_the_shipped_weights(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "data", count=4)
    state = train(_config(root, tmp_path / "run", epochs=3, holdout="frame_000"), verbose=0)
    assert state["monitor"] == "val_miou"
    assert state["best_epoch"] == max(state["history"], key=lambda h: h["val_miou"])["epoch"]
    with pytest.raises(ValueError, match="no val frame is left to score .* use --select last"):
        train(_config(root, tmp_path / "run2", holdout="frame_000", train_splits="train,val"),
              verbose=0)
    assert not (tmp_path / "run2" / "config.json").exists()


def _source_run(folder: Path, holdout: str, layout: str = "folder",
                train_splits: str = "train") -> Path:
    """A run folder as fanet-train leaves it: its config, weights and exported teacher."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(
        {"model": "tiny_test", "layout": layout, "holdout": holdout,
         "train_splits": train_splits}))
    (folder / "best.weights.h5").write_bytes(b"")
    (folder / "heldout.onnx").write_bytes(b"")
    return folder


@pytest.mark.parametrize("option", ["init_from", "distill_from"])
def test_a_source_that_trained_on_the_held_out_drive_is_refused(tmp_path: Path,
                                                                option: str) -> None:
    root = write_dataset(tmp_path / "data", count=4)
    leaky = _source_run(tmp_path / "all_drives", holdout="")
    source = str(leaky if option == "init_from" else leaky / "heldout.onnx")
    with pytest.raises(ValueError, match="trained on drive frame_000 .* would leak into the "
                                         "held-out score"):
        train(_config(root, tmp_path / "run", holdout="frame_000", **{option: source}),
              verbose=0)
    assert not (tmp_path / "run" / "config.json").exists()


def test_sources_that_left_the_drive_out_or_saw_another_dataset_pass(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    drives = ("frame_000",)
    for holdout in ("frame_000", "frame_0,other"):  # the same drive, or a prefix of it
        folder = _source_run(tmp_path / f"held_{holdout}", holdout=holdout)
        check_source("--init-from", folder / "best.weights.h5", "folder", drives)
    other = _source_run(tmp_path / "cityscapes", holdout="", layout="cityscapes")
    check_source("--distill-from", other / "heldout.onnx", "folder", drives)
    check_source("--init-from", tmp_path / "all_drives.weights.h5", "folder", ())
    assert capsys.readouterr().err == ""
    loose = tmp_path / "loose.weights.h5"  # no run folder: cannot be checked, so it is said
    check_source("--init-from", loose, "folder", drives)
    assert "no config.json beside it says which frames it trained on" in capsys.readouterr().err


def test_a_source_that_trained_on_val_never_picks_the_epoch_by_val(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = write_dataset(tmp_path / "data", count=4)
    teacher = _source_run(tmp_path / "train_val", holdout="", train_splits="train,val")
    with pytest.raises(ValueError, match="trained on val .* --select best picks this run's "
                                         "epoch by val mIoU: use --select last"):
        train(_config(root, tmp_path / "run", distill_from=str(teacher / "heldout.onnx")),
              verbose=0)
    assert not (tmp_path / "run" / "config.json").exists()
    source = teacher / "best.weights.h5"
    check_source("--init-from", source, "folder", (), scores_val=True)  # --select last
    assert "this run's val mIoU is optimistic" in capsys.readouterr().err
    check_source("--init-from", source, "folder", ())  # the run trains on val: nothing to say
    check_source("--init-from", source, "cityscapes", (), val_selects=True)  # other frames
    assert capsys.readouterr().err == ""


def test_deep_supervision_trains_extra_heads_that_the_shipped_weights_leave_out(
        tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "data", count=4)
    config = _config(root, tmp_path / "run", epochs=2, aux_loss_weight=0.4,
                     holdout="frame_000", select="last")

    with pytest.raises(KeyboardInterrupt):
        train(config, extra_callbacks=[KillBeforeEpoch(1)], verbose=0)
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    record = state["history"][-1]
    assert "aux_tiny1_bn_logits_loss" in record and "holdout_miou" in record
    assert state["best_epoch"] == 1 and state["monitor"] is None
    shipped = build_model("tiny_test", label_set_for_layout("folder").num_classes, (64, 64, 3))
    shipped.load_weights(tmp_path / "run" / "best.weights.h5")  # no auxiliary layer in it
    assert not any(layer.name.startswith("aux_") for layer in shipped.layers)
    resumed = train(config, verbose=0)  # the checkpoint keeps the heads
    assert resumed["epoch"] == 2 and resumed["best_epoch"] == 2


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_weight_decay_shrinks_kernels_and_leaves_batchnorm_and_biases(name: str) -> None:
    inputs = keras.Input((4, 4, 3))
    x = keras.layers.Conv2D(2, 3, padding="same", name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.BatchNormalization(name="bn")(x))
    optimizer = new_optimizer(name, 0.1, weight_decay=0.5)
    before = {v.path: v.numpy() for v in model.trainable_variables}
    optimizer.apply([keras.ops.zeros_like(v) for v in model.trainable_variables],
                    model.trainable_variables)
    for variable in model.trainable_variables:
        factor = 1 - 0.1 * 0.5 if variable.name == "kernel" else 1.0
        after = variable.numpy()
        np.testing.assert_allclose(after, before[variable.path] * factor, rtol=1e-6)


def test_head_dropout_sets_the_training_noise_on_the_logits() -> None:
    config = config_from_args(parse_args(["--dataset-root", "d", "--layout", "camvid",
                                          "--run-dir", "r", "--head-dropout", "0"]))
    assert config.head_dropout == 0.0
    model = build_model("fanet", 11, (64, 64, 3), output="logits")
    image = np.random.default_rng(0).random((1, 64, 64, 3), np.float32)
    noisy = [model(image, training=True).numpy() for _ in range(2)]
    assert not np.allclose(*noisy)  # the model's own 0.35
    set_head_dropout(model, 0.0)
    plain = [model(image, training=True).numpy() for _ in range(2)]
    np.testing.assert_allclose(*plain, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("option", "message"), [
    ({"head_dropout": 1.0}, "--head-dropout 1.0: a rate from 0"),
    ({"head_dropout": -0.1}, "--head-dropout -0.1"),
    ({"pad_fill": "grey"}, "--pad-fill 'grey': one of black, mean")])
def test_bad_head_dropout_or_pad_fill_is_refused_before_training(
        tmp_path: Path, option: dict, message: str) -> None:
    root = write_dataset(tmp_path / "data", count=2)
    with pytest.raises(ValueError, match=message):
        train(_config(root, tmp_path / "run", **option), verbose=0)
    assert not (tmp_path / "run" / "state.json").exists()


def test_the_campaign_recipe_is_the_default() -> None:
    plain = config_from_args(parse_args(["--dataset-root", "d", "--layout", "camvid",
                                         "--run-dir", "r"]))
    config = with_defaults_resolved(plain)
    assert (config.augment, config.aux_loss_weight, config.class_weighting,
            config.copy_paste) == ("street", 0.4, "sqrt-median-frequency", 0.5)
    assert config.weight_decay == 0.0  # SGD's default learning rate: not measured with decay
    adam = with_defaults_resolved(replace(plain, optimizer="adam"))
    assert adam.weight_decay == 0.5
    assert with_defaults_resolved(replace(adam, weight_decay=0.1)).weight_decay == 0.1


def test_copy_paste_carries_the_donors_rare_pixels_with_their_labels() -> None:
    rng = np.random.default_rng(0)
    image = np.full((20, 40, 3), 10, np.uint8)
    labels = np.full((20, 40), 3, np.uint8)  # road everywhere
    donor_image = np.full((20, 40, 3), 200, np.uint8)
    donor_labels = np.full((20, 40), 1, np.uint8)  # building ...
    donor_labels[5:15, 18:22] = 9  # ... and one pedestrian
    donor_labels[0:2, :] = 255  # void is never pasted
    kept = image.copy(), labels.copy()
    for _ in range(20):
        pasted_image, pasted = paste_objects(image, labels, donor_image, donor_labels, (9,), rng)
        rows, cols = np.nonzero(pasted == 9)
        assert len(rows) == 40 and set(rows) == set(range(5, 15))  # all of it, same rows
        assert cols.max() - cols.min() == 3 and 8 <= cols.min() <= 28  # shifted <= 1/4 width
        assert (pasted_image[pasted == 9] == 200).all()
        assert (pasted_image[pasted == 3] == 10).all() and set(np.unique(pasted)) == {3, 9}
    np.testing.assert_array_equal(image, kept[0])  # the cached frame is left as it was
    np.testing.assert_array_equal(labels, kept[1])


def test_class_mix_pastes_half_of_the_donors_classes_never_void() -> None:
    rng = np.random.default_rng(0)
    donor = np.full((8, 8), 255, np.uint8)
    donor[:, :2], donor[:, 2:4], donor[:, 4:6], donor[:, 6:7] = 0, 1, 5, 8  # 4 classes, void
    picks = [half_of_the_classes(donor, rng) for _ in range(50)]
    assert all(len(p) == 2 and set(p) <= {0, 1, 5, 8} for p in picks)
    assert len(set(picks)) > 3  # a new half each time
    assert half_of_the_classes(np.full((4, 4), 255, np.uint8), rng) == ()
    assert half_of_the_classes(np.full((4, 4), 3, np.uint8), rng) == (3,)


def test_copy_paste_classes_are_the_rare_ones() -> None:
    pixels = np.array([500, 400, 10, 300, 0, 20])
    image_pixels = np.array([1000, 1000, 1000, 1000, 0, 1000])
    assert rarer_than_median(pixels, image_pixels) == (2, 5)


def test_copy_paste_puts_rare_classes_into_training_batches(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_dataset(tmp_path, "folder", count=4)
    samples = find_samples(str(tmp_path), "folder", "train")
    present = set()
    for sample in samples:
        present |= set(np.unique(cv2.imread(str(sample.label_path), cv2.IMREAD_GRAYSCALE)))
    rare = min(present - {255})
    base = DataConfig(str(tmp_path), "folder", 64, 64, batch_size=4, workers=0, cache=True,
                      augment=replace(STREET, min_zoom=1.0, max_zoom=1.0))
    plain = SegmentationDataset(base, "train", training=True)
    pasted = SegmentationDataset(replace(base, copy_paste=1.0, paste_classes=(rare,)), "train",
                                 training=True)
    share = [float(np.mean(d[0][1] == rare)) for d in (plain, pasted)]
    assert share[1] > share[0]
    # --class-mix: with every other augmentation off, only pasted classes change the labels
    quiet = replace(base, augment=AugmentConfig(min_zoom=1.0, max_zoom=1.0, hflip=0.0,
                                                vflip=0.0, brightness=0.0, contrast=0.0,
                                                saturation=0.0))
    unmixed = SegmentationDataset(quiet, "train", training=True)[0][1]
    mixed = SegmentationDataset(replace(quiet, class_mix=1.0), "train", training=True)[0][1]
    assert np.array_equal(SegmentationDataset(quiet, "train", training=True)[0][1], unmixed)
    assert not np.array_equal(mixed, unmixed)
    # fanet-train --copy-paste picks the classes from the frames it trains on
    train_data, _ = datasets(_config(tmp_path, tmp_path / "run", copy_paste=0.5), 1)
    counted = class_pixel_counts(samples, "folder", train_data.label_set.num_classes)
    assert train_data.config.copy_paste == 0.5
    assert train_data.config.paste_classes == rarer_than_median(*counted) != ()
    # ... and the class weights reuse those counts instead of reading every label again
    reads = []
    monkeypatch.setattr(class_weights_module, "read_label",
                        lambda *args: reads.append(args) or read_label(*args))
    config = _config(tmp_path, tmp_path / "run", copy_paste=0.5,
                     class_weighting="sqrt-median-frequency")
    (tmp_path / "run").mkdir()
    weights = class_weights_for(config, train_data, tmp_path / "run")
    assert reads == [] and weights[rarer_than_median(*counted)[0]] > 1
