"""fanet_ros.metrics agrees with cityscapesscripts' own evaluator on the same predictions."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fanet_ros.dataset_layouts import cityscapes_label_ids_to_train_ids
from fanet_ros.labels import CITYSCAPES
from fanet_ros.metrics import ConfusionMatrix

cs_eval = pytest.importorskip("cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling")


def _cityscapes_scores(predictions: list[Path], truths: list[Path]) -> dict:
    args = cs_eval.args
    args.quiet = True
    args.JSONOutput = False
    args.evalInstLevelScore = False
    args.exportFile = None
    return cs_eval.evaluateImgLists([str(p) for p in predictions], [str(p) for p in truths], args)


def test_class_category_and_mean_iou_match_cityscapesscripts(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    evaluated = [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33]
    every_id = np.arange(34)
    matrix = ConfusionMatrix(CITYSCAPES.num_classes)
    predictions, truths = [], []
    for i in range(3):
        truth = rng.choice(every_id, size=(48, 64)).astype(np.uint8)
        # Mostly right, some wrong classes, a few predictions of ignored ids (e.g. 0, 4).
        prediction = np.where(rng.random(truth.shape) < 0.6, truth,
                              rng.choice(evaluated + [0, 4], size=truth.shape)).astype(np.uint8)
        truth_path, prediction_path = tmp_path / f"gt_{i}.png", tmp_path / f"pred_{i}.png"
        cv2.imwrite(str(truth_path), truth)
        cv2.imwrite(str(prediction_path), prediction)
        truths.append(truth_path)
        predictions.append(prediction_path)
        matrix.update(cityscapes_label_ids_to_train_ids(truth),
                      cityscapes_label_ids_to_train_ids(prediction))
    ours = matrix.scores(CITYSCAPES)
    theirs = _cityscapes_scores(predictions, truths)
    for train_id, name in enumerate(CITYSCAPES.class_names):
        assert ours.class_iou[train_id] == pytest.approx(theirs["classScores"][name], abs=1e-6)
    assert ours.mean_iou == pytest.approx(theirs["averageScoreClasses"], abs=1e-6)
    for category, value in ours.category_iou.items():
        assert value == pytest.approx(theirs["categoryScores"][category], abs=1e-6)
    assert ours.mean_category_iou == pytest.approx(theirs["averageScoreCategories"], abs=1e-6)


def test_frames_are_scored_at_the_ground_truths_resolution():
    """A model-resolution prediction is enlarged to the annotation, not the annotation
    shrunk: a one-pixel pole the shrinking would drop still counts as missed."""
    from fanet_ros.evaluation.scoring import FrameScorer
    from fanet_ros.labels import CAMVID

    truth = np.full((8, 8), 3, np.uint8)  # road
    truth[:, 1] = 2  # a pole one pixel wide, on a column the shrinking to 4x4 skips
    scorer = FrameScorer(CAMVID)
    scorer.add(truth, np.full((4, 4), 3, np.uint8), ("1.000000000", None))  # at half the size
    assert scorer.confusion.counts.sum() == 64
    assert scorer.confusion.counts[2, 3] == 8  # the pole's 8 pixels, called road
    assert scorer.samples[-1].prediction.shape == (8, 8)  # the report shows the same


def test_void_255_is_not_counted_whatever_the_models_ignore_label() -> None:
    """make_bag and the dataset readers write 255 for void; a model whose metadata says void is
    11 (CamVid's raw files) made every such frame an error ("ids outside 0..10 and 11")."""
    for ignore in (11, 255):
        matrix = ConfusionMatrix(11, ignore)
        matrix.update(np.array([[0, 1, 255]], np.uint8), np.array([[0, 1, 2]], np.uint8))
        assert matrix.total_pixels == 2
    matrix = ConfusionMatrix(11, 11)
    matrix.update(np.array([[11, 3]], np.uint8), np.array([[2, 3]], np.uint8))
    assert matrix.total_pixels == 1
    with pytest.raises(ValueError, match=r"outside 0\.\.10 and void \(11 or 255\): \[12\]"):
        matrix.update(np.array([[12]], np.uint8), np.array([[0]], np.uint8))
