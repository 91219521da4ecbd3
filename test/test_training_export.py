"""fanet-export: ONNX Runtime agrees with Keras, and the node's runtime loads the file."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from fanet_ros.labels import CAMVID
from fanet_ros.runtime.base import labels_from_output
from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
from fanet_training import export_cli
from fanet_training.export_cli import main
from fanet_training.models import build_model


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "fanet.weights.h5"
    model = build_model("fanet", CAMVID.num_classes, (64, 96, 3))
    rng = np.random.default_rng(0)  # non-trivial BN statistics, as after training
    for layer in model.layers:
        if layer.__class__.__name__ == "BatchNormalization":
            layer.moving_mean.assign(rng.normal(0, 0.1, layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, layer.moving_variance.shape))
    model.save_weights(path)
    return path


@pytest.fixture(scope="module")
def labels_export(weights: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> tuple[Path, int, str]:
    """The labels variant, exported once (its file, exit code and printout) for two tests."""
    output = tmp_path_factory.mktemp("labels") / "fanet_labels.onnx"
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        code = main([str(weights), "--model", "fanet", "--layout", "camvid", "--height", "64",
                     "--width", "96", "--labels", "--output", str(output)])
    return output, code, printed.getvalue()


@pytest.mark.slow
def test_size_agnostic_probabilities_match_keras_and_load_in_the_node_runtime(
    weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    output = tmp_path / "fanet.onnx"
    code = main([str(weights), "--model", "fanet", "--layout", "camvid", "--height", "64",
                 "--width", "96", "--head", "probabilities", "--output", str(output)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "size-agnostic graph" in printed
    assert "ops: " in printed and "TensorRT" in printed
    assert "max |probability difference|" in printed
    proto = onnx.load(str(output))
    assert proto.opset_import[0].version >= 17
    graph = proto.graph
    last = next(node for node in graph.node if graph.output[0].name in node.output)
    assert last.op_type == "Softmax"  # over NHWC's last axis: ONNX Runtime's fast path
    assert next(a.i for a in last.attribute if a.name == "axis") == -1
    backend = OnnxRuntimeBackend(output, input_size=(96, 160))  # another size than exported
    assert backend.metadata.model == "fanet" and backend.metadata.dynamic_size
    assert backend.metadata.class_names == CAMVID.class_names
    assert (backend.input_height, backend.input_width) == (96, 160)
    probabilities = backend.infer(np.zeros((1, 96, 160, 3), np.float32))
    assert probabilities.shape == (1, 96, 160, CAMVID.num_classes)


@pytest.mark.slow
def test_labels_variant_outputs_uint8_labels(labels_export: tuple[Path, int, str]) -> None:
    output, code, printed = labels_export
    assert code == 0, printed
    assert "identical on 100" in printed and "TOO FEW" not in printed
    backend = OnnxRuntimeBackend(output)
    assert backend.metadata.output == "labels"
    labels = backend.infer(np.zeros((1, 64, 96, 3), np.float32))
    assert labels.shape == (1, 64, 96) and labels.dtype == np.uint8
    # the arg-max reads the scores before the final Softmax and NHWC Transpose
    ops = [node.op_type for node in onnx.load(str(output)).graph.node]
    assert ops[-2:] == ["ArgMax", "Cast"] and "Softmax" not in ops


@pytest.mark.slow
def test_default_logits_head_matches_keras_and_labels_equal_the_full_resolution_head(
    weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    output = tmp_path / "fanet_logits.onnx"
    code = main([str(weights), "--model", "fanet", "--layout", "camvid", "--height", "64",
                 "--width", "96", "--output", str(output)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "max |logit difference|" in printed and "TOO" not in printed
    backend = OnnxRuntimeBackend(output)
    assert backend.metadata.output == "logits"
    logits = backend.infer(np.zeros((1, 64, 96, 3), np.float32))
    assert logits.shape == (1, 8, 12, CAMVID.num_classes) and logits.dtype == np.float32
    assert "Resize" not in {n.op_type for n in onnx.load(str(output)).graph.node[-3:]}


@pytest.mark.slow
def test_an_exported_labels_model_is_cut_to_logits_with_the_same_labels(
    labels_export: tuple[Path, int, str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    labels_model, code, printed = labels_export
    assert code == 0, printed
    cut = tmp_path / "cut.onnx"
    code = main([str(labels_model), "--head", "logits", "--output", str(cut)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "labels identical on 100.0000% of pixels" in printed
    old, new = OnnxRuntimeBackend(labels_model), OnnxRuntimeBackend(cut)
    assert new.metadata.output == "logits" and new.metadata.class_names == CAMVID.class_names
    assert labels_model.name in new.metadata.extra["converted_from"]
    image = np.random.default_rng(1).random((1, 64, 96, 3), dtype=np.float32)
    np.testing.assert_array_equal(labels_from_output(new.infer(image), "logits"),
                                  old.infer(image)[0])
    # cutting again is refused: it already ends at logits
    assert main([str(cut), "--head", "logits", "--output", str(tmp_path / "x.onnx")]) == 2
    assert main([str(labels_model), "--head", "labels", "--output", str(tmp_path / "y.onnx")]) == 2


@pytest.mark.slow
def test_a_failed_check_leaves_the_model_already_there_as_it_was(
    labels_export: tuple[Path, int, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture
) -> None:
    labels_model, code, printed = labels_export
    assert code == 0, printed
    deployed = tmp_path / "deployed.onnx"
    deployed.write_bytes(b"the model the robot runs")
    monkeypatch.setattr(export_cli, "LABEL_AGREEMENT", 1.01)  # no conversion can pass
    assert main([str(labels_model), "--head", "logits", "--output", str(deployed)]) == 1
    assert deployed.read_bytes() == b"the model the robot runs"
    assert [p.name for p in tmp_path.iterdir()] == ["deployed.onnx"]  # no partial file left
    assert "'" + str(deployed) + "' left as it was" in capsys.readouterr().err
    monkeypatch.undo()
    assert main([str(labels_model), "--head", "logits", "--output", str(deployed)]) == 0
    assert OnnxRuntimeBackend(deployed).metadata.output == "logits"


@pytest.mark.slow
def test_a_weights_file_of_a_run_folder_exports_with_that_runs_options(
    weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({
        "model": "fanet", "layout": "camvid", "height": 64, "width": 96,
        "normalization": {"scale": 1 / 255, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}}))
    shutil.copy(weights, run / "checkpoint.weights.h5")
    output = tmp_path / "from_checkpoint.onnx"
    code = main([str(run / "checkpoint.weights.h5"), "--output", str(output)])
    assert code == 0, capsys.readouterr().out
    metadata = OnnxRuntimeBackend(output).metadata
    assert metadata.model == "fanet" and (metadata.input_height, metadata.input_width) == (64, 96)
    assert metadata.normalization.mean == (0.5, 0.5, 0.5)  # not the default (0, 0, 0)
    assert "epochs" not in metadata.extra  # the run's figures belong to its best weights


def test_missing_weights_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main([str(tmp_path / "none.weights.h5"), "--output", str(tmp_path / "x.onnx")])
    assert code == 2 and "none.weights.h5" in capsys.readouterr().err


@pytest.mark.slow
def test_a_fixed_onnx_is_made_size_agnostic_without_weights(
    weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    fixed = tmp_path / "fixed.onnx"
    assert main([str(weights), "--model", "fanet", "--layout", "camvid", "--height", "64",
                 "--width", "96", "--fixed", "--output", str(fixed)]) == 0
    any_size = tmp_path / "any.onnx"
    code = main([str(fixed), "--output", str(any_size)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "made size-agnostic" in printed and "labels identical on 100.0000%" in printed
    old, new = OnnxRuntimeBackend(fixed), OnnxRuntimeBackend(any_size, input_size=(96, 160))
    assert new.metadata.dynamic_size and not old.metadata.dynamic_size
    image = np.random.default_rng(2).random((1, 64, 96, 3), dtype=np.float32)
    np.testing.assert_allclose(OnnxRuntimeBackend(any_size).infer(image), old.infer(image),
                               atol=1e-5)
    assert new.infer(np.zeros((1, 96, 160, 3), np.float32)).shape == (1, 12, 20, 11)


@pytest.mark.slow
def test_save_weights_with_quantize_keeps_the_weights_beside_the_int8_model(
    weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The float export went to a temporary folder, and the weights file with it."""
    import cv2

    images = tmp_path / "calibration"
    images.mkdir()
    for index in range(2):
        cv2.imwrite(str(images / f"{index}.png"),
                    np.random.default_rng(index).integers(0, 255, (64, 96, 3), np.uint8))
    output = tmp_path / "out" / "fanet_int8.onnx"
    code = main([str(weights), "--model", "fanet", "--layout", "camvid", "--height", "64",
                 "--width", "96", "--output", str(output), "--save-weights", "--quantize", "int8",
                 "--calibration-dir", str(images), "--calibration-frames", "2"])
    assert code == 0, capsys.readouterr()
    assert sorted(p.name for p in output.parent.iterdir()) == [
        "fanet_int8.onnx", "fanet_int8.weights.h5"]
    model = build_model("fanet", CAMVID.num_classes, (64, 96, 3))
    model.load_weights(output.parent / "fanet_int8.weights.h5")
