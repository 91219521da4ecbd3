"""Backend selection and the TensorRT entry points on a machine without TensorRT."""

from __future__ import annotations

import importlib.machinery
import sys
import types

import pytest
from ros_harness import exit_code, start_node_process

from fanet_ros.runtime import BackendConfig, ModelLoadError, create_backend
from fanet_ros.runtime.select import choose_backend
from fanet_ros.tensorrt import build_engine_cli
from fanet_ros.tensorrt.availability import tensorrt_status

TENSORRT_USABLE, WHY = tensorrt_status()
needs_no_tensorrt = pytest.mark.skipif(TENSORRT_USABLE, reason=f"TensorRT is usable here: {WHY}")


@needs_no_tensorrt
def test_auto_picks_onnxruntime_and_says_why():
    assert choose_backend("auto") == ("onnxruntime", f"auto: TensorRT not usable ({WHY})")
    assert choose_backend("onnxruntime") == ("onnxruntime", "requested")


@needs_no_tensorrt
def test_requesting_tensorrt_without_it_is_a_clear_model_load_error(tiny_model):
    with pytest.raises(ModelLoadError, match="backend 'tensorrt' was requested but .*onnxruntime"):
        create_backend(BackendConfig(model_path=tiny_model, backend="tensorrt"))


def test_status_without_cuda_python_says_what_to_install(monkeypatch):
    fake = types.ModuleType("tensorrt")
    fake.__spec__ = importlib.machinery.ModuleSpec("tensorrt", None)
    fake.__version__ = "10.3.0"
    monkeypatch.setitem(sys.modules, "tensorrt", fake)
    monkeypatch.setitem(sys.modules, "cuda", None)  # "import cuda..." raises ImportError
    usable, why = tensorrt_status()
    assert not usable
    assert why.startswith("TensorRT 10.3.0 is installed but cuda-python is not")
    assert "pip install 'cuda-python>=12.2,<13'" in why and "JetPack 6.1/6.2" in why


def test_status_with_a_broken_tensorrt_install_does_not_raise(monkeypatch, tmp_path):
    package = tmp_path / "tensorrt"
    package.mkdir()
    (package / "__init__.py").write_text(
        "raise OSError('libnvinfer.so.8: cannot open shared object file')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    usable, why = tensorrt_status()
    assert not usable
    assert why.startswith("'import tensorrt' fails (OSError: libnvinfer.so.8: cannot open")


@needs_no_tensorrt
def test_build_engine_without_tensorrt_exits_1_with_the_reason(tiny_model, capsys):
    assert build_engine_cli.main(["--model", str(tiny_model)]) == 1
    assert f"cannot build a TensorRT engine: {WHY}" in capsys.readouterr().err


def test_node_build_only_validates_the_model_and_exits_0(tmp_path, tiny_model):
    log = tmp_path / "log.txt"
    params = {"model_path": str(tiny_model), "backend": "onnxruntime", "build_only": True}
    proc = start_node_process(params, log_path=log)
    assert exit_code(proc, 60.0) == 0
    assert "build_only: onnxruntime on CPU" in log.read_text()


@needs_no_tensorrt
def test_node_build_only_for_tensorrt_without_it_exits_1(tmp_path, tiny_model):
    log = tmp_path / "log.txt"
    params = {"model_path": str(tiny_model), "backend": "tensorrt", "build_only": True}
    proc = start_node_process(params, log_path=log)
    assert exit_code(proc, 60.0) == 1
    assert "backend 'tensorrt' was requested but" in log.read_text()
