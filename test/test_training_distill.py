"""fanet-train --distill-from: a teacher's probabilities on each batch, learnt beside the labels."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import pytest
from dataset_files import write_dataset
from test_training_train import _config, _weights
from tiny_model import build_tiny_model

from fanet_ros.model_metadata import Normalization
from fanet_training.data import DataConfig, SegmentationDataset
from fanet_training.distill import Teacher
from fanet_training.losses import DistillationLoss
from fanet_training.train import main, train


def test_distillation_loss_is_the_kl_divergence_to_the_teacher() -> None:
    rng = np.random.default_rng(0)
    target = rng.dirichlet(np.ones(11), size=(2, 4, 4)).astype(np.float32)
    loss = DistillationLoss()
    assert float(loss(target, np.log(target))) == pytest.approx(0.0, abs=1e-5)
    entropy = -(target * np.log(target)).sum(-1).mean()
    uniform = np.zeros_like(target)  # the student's softmax: 1/11 everywhere
    assert float(loss(target, uniform)) == pytest.approx(math.log(11) - entropy, rel=1e-4)


@pytest.mark.parametrize("output", ["probabilities", "logits"])
def test_teacher_gives_probabilities_at_the_batch_size(tmp_path: Path, output: str) -> None:
    path = build_tiny_model(tmp_path / "teacher.onnx", output=output)
    teacher = Teacher(path, 11, Normalization())
    images = np.random.default_rng(0).random((3, 64, 96, 3), dtype=np.float32)
    probabilities = teacher(images)
    assert probabilities.shape == (3, 64, 96, 11) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)
    if output == "probabilities":  # the model's own output, frame by frame
        session = teacher.session
        first = session.run(None, {session.get_inputs()[0].name: images[:1]})[0][0]
        np.testing.assert_allclose(probabilities[0], first, atol=1e-6)


def test_teacher_refuses_what_it_cannot_teach(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--distill-from .*missing.onnx"):
        Teacher(tmp_path / "missing.onnx", 11, Normalization())
    labels = build_tiny_model(tmp_path / "labels.onnx", output="labels")
    with pytest.raises(ValueError, match="outputs labels.*--head logits"):
        Teacher(labels, 11, Normalization())
    probabilities = build_tiny_model(tmp_path / "probabilities.onnx")
    with pytest.raises(ValueError, match="11 classes, the dataset's labels have 19"):
        Teacher(probabilities, 19, Normalization())
    with pytest.raises(ValueError, match="other pixel values"):
        Teacher(probabilities, 11, Normalization(mean=(0.5, 0.5, 0.5)))


def test_training_batches_carry_the_teachers_view_of_the_same_crops(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "data", count=4, height=64, width=96)
    teacher = Teacher(build_tiny_model(tmp_path / "teacher.onnx"), 11, Normalization())
    config = DataConfig(str(root), "folder", height=64, width=96, batch_size=2, workers=0,
                        crop=(32, 64), targets=2)
    images, (labels, aux, soft) = SegmentationDataset(config, "train", training=True,
                                                      teacher=teacher)[0]
    assert labels is aux and soft.shape == (2, 32, 64, 11)
    np.testing.assert_allclose(soft, teacher(images), atol=1e-6)
    val = SegmentationDataset(config, "val", training=False, teacher=teacher)
    assert isinstance(val[0][1], np.ndarray)  # scoring batches stay (images, labels)


def test_distilled_run_learns_the_teacher_and_ships_the_student_alone(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "data", count=8)
    teacher = build_tiny_model(tmp_path / "teacher.onnx")
    keras.utils.set_random_seed(0)
    state = train(_config(root, tmp_path / "run", epochs=6, distill_from=str(teacher),
                          aux_loss_weight=0.4),
                  verbose=0)
    distill = [h["distill_loss"] for h in state["history"]]
    assert np.mean(distill[-3:]) < 0.85 * distill[0], distill  # it learns the teacher
    keras.utils.set_random_seed(0)
    train(_config(root, tmp_path / "plain", epochs=1), verbose=0)
    shipped, plain = (_weights(tmp_path / name / "best.weights.h5") for name in ("run", "plain"))
    layers = {k for k in plain if k.startswith("layers/")}
    assert {k for k in shipped if k.startswith("layers/")} == layers  # nothing of the teacher
    assert len(layers) > 4


def test_cli_refuses_a_teacher_it_cannot_use_before_writing_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = write_dataset(tmp_path / "data", count=4)
    labels = build_tiny_model(tmp_path / "labels.onnx", output="labels")
    code = main(["--dataset-root", str(root), "--layout", "folder", "--run-dir",
                 str(tmp_path / "run"), "--distill-from", str(labels)])
    assert code == 2 and "outputs labels" in capsys.readouterr().err
    assert not (tmp_path / "run" / "config.json").exists()
