"""TensorRT on a real GPU: build, cache, run and agree with ONNX Runtime on the CPU.

Skipped (with the reason) where TensorRT, cuda-python or a GPU is missing, as
in CI; users prove their setup with ``check_engine`` (docs/tensorrt.md).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from tiny_model import build_tiny_model

from fanet_ros.runtime import BackendConfig, ModelLoadError
from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
from fanet_ros.tensorrt import check_engine_cli
from fanet_ros.tensorrt.availability import tensorrt_status
from fanet_ros.tensorrt.check import DEFAULT_MIN_AGREEMENT, compare_backends, synthetic_frames

pytest.importorskip("tensorrt", reason="TensorRT is not installed")
USABLE, WHY = tensorrt_status()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not USABLE, reason=WHY)]


def tensorrt_backend(model, cache, log=None, **options):
    from fanet_ros.runtime.tensorrt_backend import TensorRTBackend

    config = BackendConfig(model_path=model, backend="tensorrt", engine_cache_dir=str(cache),
                           **options)
    return TensorRTBackend.from_config(config, log=log)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_engine_agrees_with_onnxruntime_on_the_cpu(tiny_model, tmp_path, precision):
    engine = tensorrt_backend(tiny_model, tmp_path, precision=precision)
    try:
        result = compare_backends(OnnxRuntimeBackend(tiny_model), engine,
                                  synthetic_frames(20, 64, 96))
    finally:
        engine.close()
    assert result.agreement_percent >= DEFAULT_MIN_AGREEMENT[precision]
    assert result.max_probability_difference < (1e-3 if precision == "fp32" else 2e-2)


def test_second_start_loads_the_cached_engine(tiny_model, tmp_path):
    said: list[str] = []
    tensorrt_backend(tiny_model, tmp_path, log=said.append, precision="fp16").close()
    assert any(m.startswith("built and cached") for m in said)
    said.clear()
    engine = tensorrt_backend(tiny_model, tmp_path, log=said.append, precision="fp16")
    engine.close()
    assert said[-1].startswith("loaded cached engine") and engine.engine_path.is_file()


def test_labels_model_copies_back_integer_labels(tmp_path):
    model = build_tiny_model(tmp_path / "labels.onnx", output="labels")
    engine = tensorrt_backend(model, tmp_path / "engines", precision="fp32")
    try:
        out = engine.infer(np.zeros((1, 64, 96, 3), np.float32))
        result = compare_backends(OnnxRuntimeBackend(model), engine, synthetic_frames(5, 64, 96))
    finally:
        engine.close()
    assert out.shape == (1, 64, 96) and np.issubdtype(out.dtype, np.integer)
    assert result.agreement_percent >= DEFAULT_MIN_AGREEMENT["fp32"]


def calibration_images(folder):
    folder.mkdir()
    for index, frame in enumerate(synthetic_frames(16, 64, 96)):
        cv2.imwrite(str(folder / f"{index:02d}.png"), frame.pixels[:, :, ::-1])
    return folder


def test_int8_calibrates_once_and_reuses_the_calibration_cache(tiny_model, tmp_path):
    from fanet_ros.tensorrt.builder import strongly_typed_only

    if strongly_typed_only():
        pytest.skip("TensorRT 11 and later have no INT8 calibration (refusal tested below)")
    images = calibration_images(tmp_path / "calibration")
    engine = tensorrt_backend(tiny_model, tmp_path / "engines", precision="int8",
                              int8_calibration_dir=str(images))
    engine.close()
    calibration_caches = list((tmp_path / "engines").glob("*.calib"))
    assert len(calibration_caches) == 1
    for engine_file in (tmp_path / "engines").glob("*.engine"):
        engine_file.unlink()
    said: list[str] = []
    engine = tensorrt_backend(tiny_model, tmp_path / "engines", log=said.append,
                              precision="int8")  # no images: the cache suffices
    try:
        result = compare_backends(OnnxRuntimeBackend(tiny_model), engine,
                                  synthetic_frames(10, 64, 96))
    finally:
        engine.close()
    assert any("reusing" in m for m in said)
    assert result.agreement_percent > 80.0


def test_int8_is_refused_with_what_to_do_where_tensorrt_has_no_calibration(tiny_model, tmp_path):
    from fanet_ros.tensorrt.builder import strongly_typed_only

    if not strongly_typed_only():
        pytest.skip("this TensorRT calibrates INT8 (tested above)")
    with pytest.raises(ModelLoadError, match="no INT8 calibration.*precision fp16"):
        tensorrt_backend(tiny_model, tmp_path / "engines", precision="int8",
                         int8_calibration_dir=str(calibration_images(tmp_path / "calibration")))


def test_check_engine_cli_passes_for_fp16(tiny_model, tmp_path, capsys):
    code = check_engine_cli.main(["--model", str(tiny_model), "--precision", "fp16",
                                  "--engine-cache-dir", str(tmp_path), "--frames", "20"])
    assert code == 0, capsys.readouterr().out


def test_self_test_passes_on_this_gpu(tiny_model, capsys):
    pytest.importorskip("rosbags", reason="the self-test's node step needs rosbags")
    code = check_engine_cli.main(["--full", "--model", str(tiny_model), "--frames", "10",
                                  "--seconds", "3"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.count("PASS") == 4
