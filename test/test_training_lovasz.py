"""fanet-train --lovasz-weight: the Lovász-softmax surrogate of per-class IoU beside the
cross-entropy, checked against a plain NumPy reading of Berman et al. (2018)."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from dataset_files import write_dataset
from test_training_train import KillBeforeEpoch, _config

from fanet_ros.dataset_layouts import label_set_for_layout
from fanet_training.losses import LovaszSoftmax
from fanet_training.models import build_model
from fanet_training.train import parse_args, train

VOID = 255


def _reference(labels: np.ndarray, logits: np.ndarray) -> float:
    """Lovász-softmax over all labelled pixels, averaged over the classes present."""
    flat = logits.reshape(-1, logits.shape[-1]).astype(np.float64)
    probabilities = np.exp(flat - flat.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    labels = labels.reshape(-1)
    keep = labels != VOID
    probabilities, labels = probabilities[keep], labels[keep]
    losses = []
    for c in range(flat.shape[1]):
        truth = (labels == c).astype(np.float64)
        if not truth.any():
            continue
        errors = np.abs(truth - probabilities[:, c])
        order = np.argsort(-errors, kind="stable")
        truth_sorted = truth[order]
        intersection = truth.sum() - np.cumsum(truth_sorted)
        union = truth.sum() + np.cumsum(1 - truth_sorted)
        jaccard = 1 - intersection / union
        steps = np.diff(jaccard, prepend=0.0)
        losses.append(float(errors[order] @ steps))
    return float(np.mean(losses))


def _batch(seed: int, classes: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2.0, (2, 12, 16, classes)).astype(np.float32)
    labels = rng.integers(0, classes - 1, (2, 12, 16)).astype(np.uint8)  # one class absent
    labels[:, :2] = VOID
    return labels, logits


@pytest.mark.parametrize("seed", [0, 1])
def test_lovasz_softmax_matches_the_reference(seed: int) -> None:
    labels, logits = _batch(seed)
    got = float(LovaszSoftmax(ignore_label=VOID, stride=1)(labels, logits))
    assert got == pytest.approx(_reference(labels, logits), rel=1e-4)


def test_stride_scores_every_nth_pixel_and_void_pixels_never_count() -> None:
    labels, logits = _batch(2)
    strided = float(LovaszSoftmax(ignore_label=VOID, stride=2)(labels, logits))
    assert strided == pytest.approx(_reference(labels[:, ::2, ::2], logits[:, ::2, ::2]),
                                    rel=1e-4)
    changed = logits.copy()
    changed[:, :2] = -changed[:, :2]  # what the model says on void pixels
    assert float(LovaszSoftmax(ignore_label=VOID, stride=1)(labels, changed)) == pytest.approx(
        float(LovaszSoftmax(ignore_label=VOID, stride=1)(labels, logits)), rel=1e-6)
    with pytest.raises(ValueError, match="stride 0"):
        LovaszSoftmax(stride=0)


def test_lovasz_softmax_falls_as_the_prediction_overlaps_the_labels() -> None:
    labels, _ = _batch(3)
    truth = np.eye(5, dtype=np.float32)[np.where(labels == VOID, 0, labels)]
    loss = LovaszSoftmax(ignore_label=VOID, stride=1)
    sure, vague, wrong = (float(loss(labels, 12.0 * truth)), float(loss(labels, 1.0 * truth)),
                          float(loss(labels, -12.0 * truth)))
    assert sure < 1e-3 < vague < wrong


def test_lovasz_weighted_run_trains_the_extra_loss_and_ships_the_plain_model(
        tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "data", count=4)
    args = parse_args(["--dataset-root", str(root), "--layout", "folder", "--run-dir", "r",
                       "--lovasz-weight", "0.5"])
    assert args.lovasz_weight == 0.5
    config = _config(root, tmp_path / "run", epochs=3, lovasz_weight=0.5, aux_loss_weight=0.4,
                     select="last")

    with pytest.raises(KeyboardInterrupt):
        train(config, extra_callbacks=[KillBeforeEpoch(2)], verbose=0)
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    assert len(state["history"]) == 2 and all(h["lovasz_loss"] > 0 for h in state["history"])
    shipped = build_model("tiny_test", label_set_for_layout("folder").num_classes, (64, 64, 3))
    shipped.load_weights(tmp_path / "run" / "best.weights.h5")  # no extra output in it
    assert len(shipped.outputs) == 1
    resumed = train(config, verbose=0)
    assert resumed["epoch"] == 3
    with pytest.raises(ValueError, match="--lovasz-weight -1"):
        train(_config(root, tmp_path / "bad", lovasz_weight=-1.0), verbose=0)


def test_a_keras_model_compiled_with_it_saves_and_loads(tmp_path: Path) -> None:
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 1)])
    model.compile(optimizer="adam", loss=LovaszSoftmax(ignore_label=VOID, stride=2))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.loss.stride == 2 and loaded.loss.ignore_label == VOID
