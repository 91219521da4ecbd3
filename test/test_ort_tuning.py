"""ONNX Runtime tuning: session settings, the BatchNorm fold and the INT8 (QDQ) option."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from test_bench_smoke import run_bench

from bench.render_performance import ort_tuning
from fanet_ros.labels import CAMVID
from fanet_ros.model_metadata import ModelMetadata, attach_metadata, metadata_of_proto
from fanet_ros.onnx.folding import fold_conv_affine
from fanet_ros.runtime.base import check_output_against_metadata, labels_from_output
from fanet_ros.runtime.onnxruntime_backend import (
    OPTIMIZATION_LEVELS,
    OnnxRuntimeBackend,
    load_session,
    session_options,
)
from fanet_ros.shipped_models import shipped_model_path
from fanet_ros.synthetic import generate_drive
from fanet_training.export_cli import main as export_main
from fanet_training.quantize import quantize_int8

HEIGHT, WIDTH = 64, 96


def conv_bn_model(path: Path, seed: int = 0) -> Path:
    """NHWC image -> conv + BN (Mul, Add) -> swish -> depthwise conv + BatchNormalization
    -> pointwise conv + BN as one scalar Mul and a [1, C, 1, 1] Add -> 8x8 average pool
    -> NHWC logits, with fanet_ros metadata: what tf2onnx writes for FANet, in small."""
    rng = np.random.default_rng(seed)
    n, c = CAMVID.num_classes, 8

    def init(name: str, *shape: int, low: float = -1.0, high: float = 1.0) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.uniform(low, high, shape).astype(np.float32), name)

    initializers = [
        init("w1", c, 3, 3, 3), init("s1", c, 1, 1, low=0.5, high=2.0), init("a1", c, 1, 1),
        init("wd", c, 1, 3, 3), init("gamma", c, low=0.5), init("beta", c),
        init("mean", c), init("var", c, low=0.1, high=2.0),
        init("wp", n, c, 1, 1), init("bp", n), init("s3", 1, low=0.5), init("a3", 1, n, 1, 1),
    ]
    nodes = [
        helper.make_node("Transpose", ["image"], ["x"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Mul", ["c1", "s1"], ["m1"]),
        helper.make_node("Add", ["a1", "m1"], ["b1"]),
        helper.make_node("Sigmoid", ["b1"], ["g1"]),
        helper.make_node("Mul", ["b1", "g1"], ["h1"]),
        helper.make_node("Conv", ["h1", "wd"], ["cd"], pads=[1, 1, 1, 1], group=c),
        helper.make_node("BatchNormalization", ["cd", "gamma", "beta", "mean", "var"], ["bd"],
                         epsilon=1e-3),
        helper.make_node("Conv", ["bd", "wp", "bp"], ["cp"]),
        helper.make_node("Mul", ["cp", "s3"], ["mp"]),
        helper.make_node("Add", ["mp", "a3"], ["bp_out"]),
        helper.make_node("AveragePool", ["bp_out"], ["pooled"], kernel_shape=[8, 8],
                         strides=[8, 8]),
        helper.make_node("Transpose", ["pooled"], ["logits"], perm=[0, 2, 3, 1]),
    ]
    graph = helper.make_graph(
        nodes, "conv_bn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, HEIGHT, WIDTH, 3])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                       [1, HEIGHT // 8, WIDTH // 8, n])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    attach_metadata(model, ModelMetadata.for_label_set(
        CAMVID, model="conv_bn", input_height=HEIGHT, input_width=WIDTH, output="logits"))
    onnx.save(model, str(path))
    return path


def run(model: onnx.ModelProto | Path, batch: np.ndarray) -> np.ndarray:
    """The model's output with ONNX Runtime's own fusions off."""
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    session = ort.InferenceSession(source, session_options(optimization_level="disabled"),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: batch})[0]


def ops(model: onnx.ModelProto) -> list[str]:
    return [node.op_type for node in model.graph.node]


@pytest.fixture
def calibration_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "calibration"
    folder.mkdir()
    for i, (rgb, _) in enumerate(generate_drive(3, 6, height=90, width=120)):
        cv2.imwrite(str(folder / f"frame_{i}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return folder


def test_fold_removes_every_batchnorm_and_keeps_the_output(tmp_path):
    model = onnx.load(str(conv_bn_model(tmp_path / "m.onnx")))
    batch = np.random.default_rng(1).random((1, HEIGHT, WIDTH, 3), dtype=np.float32)
    before = run(model, batch)
    assert fold_conv_affine(model) == 5  # Mul + Add, BatchNormalization, Mul + Add
    onnx.checker.check_model(model)
    assert ops(model).count("Conv") == 3 and "BatchNormalization" not in ops(model)
    assert ops(model).count("Mul") == 1 and "Add" not in ops(model)  # the swish's Mul stays
    np.testing.assert_allclose(run(model, batch), before, rtol=1e-5, atol=1e-5)


def test_fold_leaves_a_conv_whose_output_has_other_readers(tmp_path):
    model = onnx.load(str(conv_bn_model(tmp_path / "m.onnx")))
    # b1 -> Sigmoid and Mul: m1's Add is the only reader of m1, so that Conv folds; now let
    # the first conv's raw output also feed the swish, so it must stay as it is
    swish = next(n for n in model.graph.node if n.op_type == "Sigmoid")
    swish.input[0] = "c1"
    batch = np.random.default_rng(2).random((1, HEIGHT, WIDTH, 3), dtype=np.float32)
    before = run(model, batch)
    assert fold_conv_affine(model) == 3
    assert "c1" in [n.output[0] for n in model.graph.node if n.op_type == "Conv"]
    np.testing.assert_allclose(run(model, batch), before, rtol=1e-5, atol=1e-5)


def test_fold_on_the_shipped_model_matches_its_output():
    """The tf2onnx graph of FANet: each BatchNorm is a Mul + Add after a Conv; all fold."""
    model = onnx.load(str(shipped_model_path()))
    convs = ops(model).count("Conv")
    meta = metadata_of_proto(model, "shipped")  # the graph takes any size; its default
    height, width = meta.input_height, meta.input_width
    batch = np.random.default_rng(0).standard_normal((1, height, width, 3)).astype(np.float32)
    before = run(model, batch)
    removed = fold_conv_affine(model)
    onnx.checker.check_model(model)
    assert removed > 0 and ops(model).count("Conv") == convs
    producers = {o: n for n in model.graph.node for o in n.output}
    initializers = {t.name for t in model.graph.initializer}
    after_conv = [n for n in model.graph.node if n.op_type in ("Mul", "Add")
                  and any(i in initializers for i in n.input)
                  and any(producers.get(i) is not None and producers[i].op_type == "Conv"
                          for i in n.input)]
    assert after_conv == []
    after = run(model, batch)
    assert np.abs(after - before).max() < 1e-4
    assert (after.argmax(-1) == before.argmax(-1)).mean() > 0.9999


def test_session_options_name_the_levels_and_reject_others(tmp_path):
    assert set(OPTIMIZATION_LEVELS) == {"disabled", "basic", "extended", "all"}
    options = session_options(num_threads=1, allow_spinning=True, optimization_level="basic")
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    assert options.intra_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
    with pytest.raises(ValueError, match="optimization_level"):
        session_options(optimization_level="fast")
    model = conv_bn_model(tmp_path / "m.onnx")
    batch = np.random.default_rng(3).random((1, HEIGHT, WIDTH, 3), dtype=np.float32)
    outputs = []
    for level in OPTIMIZATION_LEVELS:
        session, metadata = load_session(model, optimization_level=level)
        assert metadata.output == "logits"
        outputs.append(session.run(None, {"image": batch})[0])
    for output in outputs[1:]:
        np.testing.assert_allclose(output, outputs[0], rtol=1e-4, atol=1e-4)


def test_int8_model_runs_in_the_node_backend_with_its_labels(tmp_path, calibration_dir):
    source = conv_bn_model(tmp_path / "m.onnx")
    result = quantize_int8(source, tmp_path / "int8.onnx", calibration_dir, frames=4)
    assert result.calibration_frames == 4 and result.label_agreement > 0.9
    model = onnx.load(str(result.path))
    assert "QuantizeLinear" in ops(model) and "DequantizeLinear" in ops(model)
    metadata = metadata_of_proto(model, result.path)
    assert metadata.output == "logits" and "int8 QDQ" in metadata.extra["quantized"]
    assert "4 images of calibration/" in metadata.extra["quantized"]
    backend = OnnxRuntimeBackend(result.path)
    check_output_against_metadata(backend)
    batch = np.random.default_rng(4).random((1, HEIGHT, WIDTH, 3), dtype=np.float32)
    labels = labels_from_output(backend.infer(batch), "logits", (HEIGHT, WIDTH))
    expected = labels_from_output(run(source, batch), "logits", (HEIGHT, WIDTH))
    assert labels.shape == (HEIGHT, WIDTH) and (labels == expected).mean() > 0.8
    with pytest.raises(ValueError, match="already quantised"):
        quantize_int8(result.path, tmp_path / "again.onnx", calibration_dir, frames=2)


def test_export_cli_quantizes_an_exported_model(tmp_path, calibration_dir, capsys):
    source = conv_bn_model(tmp_path / "m.onnx")
    output = tmp_path / "out" / "m_int8.onnx"
    assert export_main([str(source), "--output", str(output), "--quantize", "int8"]) == 2
    assert "--calibration-dir" in capsys.readouterr().err and not output.exists()
    assert export_main([str(source), "--output", str(output), "--quantize", "int8",
                        "--calibration-dir", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert export_main([str(source), "--output", str(output), "--quantize", "int8",
                        "--calibration-dir", str(calibration_dir),
                        "--calibration-frames", "3"]) == 0
    printed = capsys.readouterr().out
    assert "INT8 QDQ, calibrated on 3 images" in printed and "labels identical on" in printed
    assert "QuantizeLinear" in ops(onnx.load(str(output)))
    assert source.is_file()


@pytest.mark.slow
def test_ort_tuning_bench_times_every_variant(tmp_path, calibration_dir):
    run_bench("ort_tuning", "--model", str(conv_bn_model(tmp_path / "m.onnx")),
              "--size", f"{HEIGHT}x{WIDTH}", "--rounds", "2", "--runs", "1",
              "--calibration-dir", str(calibration_dir), "--calibration-frames", "3",
              "--results-dir", str(tmp_path), env={"FANET_BENCH_CACHE": str(tmp_path / "cache")})
    data = json.loads((tmp_path / "ort_tuning.json").read_text())
    rows = {row["variant"]: row for row in data["timing"]}
    assert len(rows) == 12 and rows[data["timing"][0]["variant"]]["ratio_to_default"] == 1.0
    assert all(row["median_ms"] > 0 for row in rows.values())
    assert "INT8 QDQ" in rows and data["model"]["file"] == "m.onnx"
    assert "| verdict |" in ort_tuning(data)
