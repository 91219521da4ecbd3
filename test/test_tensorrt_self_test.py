"""``check_engine --full``: the parts of the GPU self-test that run on the CPU.

Without TensorRT it must say so and exit 2; its engine step runs here on the
fake TensorRT; its node step (the real node in its own process, frames
through real topics, labels compared with ONNX Runtime on the CPU) runs here
with ``backend:=onnxruntime``, the same code it runs with ``tensorrt`` on a GPU.
"""

from __future__ import annotations

import pytest

from fanet_ros.tensorrt import check_engine_cli
from fanet_ros.tensorrt.availability import tensorrt_status
from fanet_ros.tensorrt.check import synthetic_frames
from fanet_ros.tensorrt.self_test import (
    FAIL,
    PASS,
    SKIP,
    EngineOptions,
    Row,
    engine_row,
    exit_status,
    node_row,
)

TENSORRT_USABLE, WHY = tensorrt_status()


@pytest.mark.skipif(TENSORRT_USABLE, reason=f"TensorRT is usable here: {WHY}")
def test_without_tensorrt_the_table_says_why_and_the_exit_status_is_2(tiny_model, capsys):
    assert check_engine_cli.main(["--full", "--model", str(tiny_model)]) == 2
    out = capsys.readouterr().out
    assert f"environment             SKIP    {WHY}; cuda-python: not installed" in out
    for step in ("engine fp32", "engine fp16", "node backend:=tensorrt"):
        assert f"{step}" in out
    assert out.count("SKIP    needs TensorRT and a GPU (see environment)") == 3


def test_exit_status_fail_beats_skip_beats_pass():
    assert exit_status([Row("a", PASS, ""), Row("b", PASS, "")]) == 0
    assert exit_status([Row("a", PASS, ""), Row("b", SKIP, "")]) == 2
    assert exit_status([Row("a", FAIL, ""), Row("b", SKIP, "")]) == 1


def test_engine_step_builds_compares_and_reports(fake_gpu, tiny_model, tmp_path):
    fake_gpu()
    row = engine_row(tiny_model, "fp16", 0, tmp_path / "engines", frames=3)
    assert row.result == PASS, row.detail
    assert "agreement 100.000 % over 3 frames (min 99.5 %)" in row.detail
    fake_gpu(fail_build_with=["Could not find any implementation for node /conv/Conv."])
    row = engine_row(tiny_model, "fp32", 0, tmp_path / "other", frames=3)
    assert row.result == FAIL and "raise workspace_mb" in row.detail
    row = engine_row(tiny_model, "fp32", 0, tmp_path / "other", frames=3,
                     options=EngineOptions(input_height=64))  # was a traceback
    assert row.result == FAIL and "set both input_height and input_width" in row.detail


def test_node_step_runs_the_real_node_through_real_topics(tiny_model, tmp_path):
    row = node_row(tiny_model, "onnxruntime", 0, tmp_path / "engines", seconds=4.0,
                   log_dir=tmp_path, rate_hz=10.0, startup_timeout_s=60.0)
    assert row.result == PASS, row.detail
    assert "agreement with ONNX Runtime 100.000 %" in row.detail
    assert "node log: onnxruntime (requested)" in row.detail
    answered, sent = row.detail.split(" frames answered")[0].split("/")
    assert int(sent) >= 5 and int(answered) >= 0.9 * int(sent)


def test_full_honours_the_engine_options(tiny_model, tmp_path, monkeypatch, capsys):
    """--precision, --images, --min-agreement, --input-*, --workspace-mb, --calibration-dir."""
    from fanet_ros.tensorrt import self_test
    from fanet_ros.tooling import ros_env

    calls = []
    monkeypatch.setattr(self_test, "environment_row", lambda gpu: (Row("environment", PASS, ""),
                                                                   [0]))
    monkeypatch.setattr(self_test, "engine_row", lambda *args: calls.append(("engine", args))
                        or Row(f"engine {args[1]}", PASS, ""))
    monkeypatch.setattr(self_test, "node_row", lambda *args, **kw: calls.append(("node", kw))
                        or Row("node", PASS, ""))
    monkeypatch.setattr(ros_env, "use_local_ros_domain", lambda domain=None: domain)
    images = tmp_path / "images"
    code = check_engine_cli.main([
        "--full", "--model", str(tiny_model), "--precision", "int8", "--images", str(images),
        "--min-agreement", "90", "--input-height", "128", "--input-width", "160",
        "--workspace-mb", "64", "--calibration-dir", str(images)])
    assert code == 0, capsys.readouterr().out
    engines = [args for kind, args in calls if kind == "engine"]
    assert [args[1] for args in engines] == ["fp32", "int8"]
    options = engines[1][5]
    assert (options.images, options.min_agreement, options.input_height, options.input_width,
            options.workspace_mb, options.calibration_dir) == (
        str(images), 90.0, 128, 160, 64, str(images))
    (node,) = [kw for kind, kw in calls if kind == "node"]
    assert node["precision"] == "int8" and node["options"] is options


def test_engine_step_uses_the_images_size_and_threshold_given(fake_gpu, tiny_model, tmp_path):
    import cv2

    folder = tmp_path / "images"
    folder.mkdir()
    for index, frame in enumerate(synthetic_frames(2, 90, 120)):
        cv2.imwrite(str(folder / f"{index}.png"), frame.pixels)
    fake_gpu()
    options = EngineOptions(images=str(folder), min_agreement=12.5, input_height=128,
                            input_width=160, workspace_mb=64)
    row = engine_row(tiny_model, "fp16", 0, tmp_path / "engines", 5, options)
    assert row.result == PASS, row.detail
    assert "over 2 frames (min 12.5 %)" in row.detail
    assert list((tmp_path / "engines").glob("tiny_128x160_fp16_*.engine"))
