"""check_engine's comparison and exit status, with ONNX Runtime on both sides."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from tiny_model import build_tiny_model

from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
from fanet_ros.tensorrt import check_engine_cli
from fanet_ros.tensorrt.availability import tensorrt_status
from fanet_ros.tensorrt.check import (
    IncomparableBackends,
    compare_backends,
    synthetic_frames,
)


@pytest.fixture(scope="module")
def other_model(tmp_path_factory):
    """Same classes and size as ``tiny_model``, different weights: a wrong engine."""
    return build_tiny_model(tmp_path_factory.mktemp("other") / "other.onnx", seed=7)


def test_same_model_agrees_fully_and_latency_is_measured(tiny_model):
    reference, candidate = OnnxRuntimeBackend(tiny_model), OnnxRuntimeBackend(tiny_model)
    result = compare_backends(reference, candidate, synthetic_frames(6, 64, 96), warmup=1)
    assert result.frames == 6
    assert result.agreement_percent == 100.0 and result.max_probability_difference == 0.0
    for latency in (result.reference_latency, result.candidate_latency):
        assert 0 < latency.median_ms <= latency.p95_ms
    assert "onnxruntime on CPU (tiny.onnx)" in result.reference
    assert result.passed(99.5)


def test_different_weights_disagree_and_fail(tiny_model, other_model):
    result = compare_backends(
        OnnxRuntimeBackend(tiny_model), OnnxRuntimeBackend(other_model), synthetic_frames(3, 64, 96)
    )
    assert result.agreement_percent < 50.0 and result.max_probability_difference > 0.1
    assert not result.passed(99.5)


def test_labels_output_is_compared_on_labels_only(tiny_model, tmp_path):
    labels_model = build_tiny_model(tmp_path / "labels.onnx", output="labels")
    result = compare_backends(
        OnnxRuntimeBackend(tiny_model), OnnxRuntimeBackend(labels_model),
        synthetic_frames(3, 64, 96),
    )
    assert result.agreement_percent == 100.0 and result.max_probability_difference is None
    assert "n/a" in result.report()


def test_backends_at_different_sizes_are_refused(tiny_model):
    bigger = OnnxRuntimeBackend(tiny_model, input_size=(128, 160))
    with pytest.raises(IncomparableBackends, match="input sizes differ"):
        compare_backends(OnnxRuntimeBackend(tiny_model), bigger, synthetic_frames(1, 64, 96))


def test_synthetic_frames_are_smooth_and_reproducible():
    first, again = next(synthetic_frames(1, 64, 96, seed=3)), next(synthetic_frames(1, 64, 96, 3))
    assert first.pixels.shape == (64, 96, 3) and first.encoding == "rgb8"
    np.testing.assert_array_equal(first.pixels, again.pixels)
    step = np.abs(np.diff(first.pixels.astype(int), axis=1)).mean()
    assert step < 20  # blobs, not per-pixel noise


def test_cli_passes_on_the_same_model(tiny_model, capsys):
    code = check_engine_cli.main(
        ["--model", str(tiny_model), "--candidate-model", str(tiny_model), "--frames", "4"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "label agreement:            100.000 %" in out
    assert "PASS: label agreement 100.000 % (threshold 99.5 %)" in out
    assert "median" in out and "p95" in out


def test_cli_fails_with_exit_1_below_the_threshold(tiny_model, other_model, capsys):
    code = check_engine_cli.main(
        ["--model", str(tiny_model), "--candidate-model", str(other_model), "--frames", "3",
         "--precision", "fp32"]
    )
    assert code == 1
    assert "FAIL: label agreement" in capsys.readouterr().out
    assert check_engine_cli.main(
        ["--model", str(tiny_model), "--candidate-model", str(other_model), "--frames", "3",
         "--min-agreement", "0"]
    ) == 0


def test_cli_reads_an_image_folder(tiny_model, tmp_path, capsys):
    rng = np.random.default_rng(1)
    for index in range(3):
        cv2.imwrite(str(tmp_path / f"{index}.png"), rng.integers(0, 256, (90, 120, 3), np.uint8))
    args = ["--model", str(tiny_model), "--candidate-model", str(tiny_model), "--frames", "10"]
    assert check_engine_cli.main([*args, "--images", str(tmp_path)]) == 0
    assert "frames:                     3" in capsys.readouterr().out
    assert check_engine_cli.main([*args, "--images", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.skipif(tensorrt_status()[0], reason="TensorRT is usable here")
def test_cli_without_tensorrt_exits_2_and_says_why(tiny_model, capsys):
    assert check_engine_cli.main(["--model", str(tiny_model), "--frames", "2"]) == 2
    assert "backend 'tensorrt' was requested but" in capsys.readouterr().err


def test_cli_exits_2_not_1_when_the_candidate_crashes(tiny_model, monkeypatch, capsys):
    """A CUDA error mid-run is "could not run" (2), never "below the threshold" (1)."""
    from fanet_ros.tensorrt.cuda_runtime import CudaError

    class CrashingBackend(OnnxRuntimeBackend):
        name = "tensorrt"

        def infer(self, batch):
            raise CudaError("cudaMemcpyAsync (host to device) failed: cudaErrorLaunchFailure (719)")

        def close(self):
            raise CudaError("cudaStreamQuery failed: cudaErrorLaunchFailure (719)")

    monkeypatch.setattr(check_engine_cli, "create_backend",
                        lambda config, log=None: CrashingBackend(config.model_path))
    assert check_engine_cli.main(["--model", str(tiny_model), "--frames", "2"]) == 2
    err = capsys.readouterr().err
    assert "could not run: CudaError: cudaMemcpyAsync" in err
    assert "closing tensorrt failed" in err
