"""The TensorRT backend and backend selection on the CPU, with fake TensorRT and fake CUDA.

The fakes (``fake_tensorrt``, ``fake_cuda``) return TensorRT's booleans and
CUDA's error codes exactly where the real libraries do; the backend,
engine cache and builder are the real code.
"""

from __future__ import annotations

import dataclasses
import importlib
import warnings

import numpy as np
import pytest

from fanet_ros.runtime import BackendConfig, ModelLoadError, create_backend
from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
from fanet_ros.tensorrt.availability import tensorrt_status
from fanet_ros.tensorrt.cuda_runtime import CudaError


def config(model, tmp_path, **options) -> BackendConfig:
    options.setdefault("backend", "tensorrt")
    return BackendConfig(model_path=model, engine_cache_dir=str(tmp_path / "engines"),
                         precision="fp32", **options)


def test_input_shape_rejected_by_the_engine_is_an_error_and_frees_everything(
    fake_gpu, tiny_model, tmp_path
):
    _, cuda = fake_gpu()
    from fanet_ros.runtime.tensorrt_backend import TensorRTBackend
    from fanet_ros.tensorrt.engines import open_engine

    spec, runtime, engine, path = open_engine(config(tiny_model, tmp_path), print)
    other_size = dataclasses.replace(spec, input_height=128, input_width=160)
    with pytest.raises(ModelLoadError, match=r"rejects input 'image' of shape \(1, 128, 160, 3\)"):
        TensorRTBackend(other_size, runtime, engine, path)
    assert cuda.live == {}


def test_refused_tensor_address_is_an_error_and_frees_everything(fake_gpu, tiny_model, tmp_path):
    _, cuda = fake_gpu(misalign=True)
    with pytest.raises(ModelLoadError, match="refused the device address of tensor 'image'"):
        create_backend(config(tiny_model, tmp_path))
    assert cuda.live == {}


def test_close_after_a_sticky_cuda_error_frees_everything_and_raises_it(
    fake_gpu, tiny_model, tmp_path
):
    from fake_cuda import cudaError_t

    _, cuda = fake_gpu()
    backend = create_backend(config(tiny_model, tmp_path))
    cuda.cudaStreamQuery = lambda handle: (cudaError_t.cudaErrorIllegalAddress,)
    with pytest.raises(CudaError, match="cudaErrorIllegalAddress"):
        backend.close()
    assert cuda.live == {}
    backend.close()  # closed: nothing left to free, nothing raised


def test_inference_waits_by_polling_never_with_cuda_stream_synchronize(
    fake_gpu, tiny_model, tmp_path
):
    """cudaStreamSynchronize holds the GIL before cuda-python 12.9.1 (the fake raises)."""
    _, cuda = fake_gpu(busy_queries=4)
    backend = create_backend(config(tiny_model, tmp_path))
    try:
        out = backend.infer(np.zeros((1, 64, 96, 3), np.float32))
    finally:
        backend.close()
    assert out.shape == (1, 64, 96, 11) and out.dtype == np.float32
    assert cuda.synchronize_calls == 0 and cuda.queries > 4
    assert cuda.live == {}



def test_a_backend_dropped_without_close_frees_its_gpu_memory(fake_gpu, tiny_model, tmp_path):
    """Pinned and device buffers are not freed by Python's garbage collector: before, every
    Segmenter dropped unclosed (a notebook cell run again) kept its buffers until exit."""
    import gc

    _, cuda = fake_gpu()
    backend = create_backend(config(tiny_model, tmp_path))
    backend.infer(np.zeros((1, 64, 96, 3), np.float32))
    assert cuda.live
    del backend
    gc.collect()
    assert cuda.live == {}


def test_close_then_garbage_collection_frees_once(fake_gpu, tiny_model, tmp_path):
    import gc

    _, cuda = fake_gpu()
    backend = create_backend(config(tiny_model, tmp_path))
    backend.close()
    frees = []
    cuda.cudaFree = cuda.cudaFreeHost = lambda ptr: frees.append(ptr)
    del backend
    gc.collect()
    assert frees == []

@pytest.mark.parametrize("failure", ["out-of-memory", "unexpected-exception"])
def test_auto_falls_back_to_onnxruntime_with_a_warning_and_tensorrt_fails_hard(
    fake_gpu, tiny_model, tmp_path, monkeypatch, failure
):
    fake_gpu(fail_malloc_after=1 if failure == "out-of-memory" else None)
    if failure == "unexpected-exception":
        from fanet_ros.runtime.tensorrt_backend import TensorRTBackend

        def broken(cls, *args, **kwargs):
            raise AttributeError("module 'tensorrt' has no attribute 'Logger'")

        monkeypatch.setattr(TensorRTBackend, "from_config", classmethod(broken))
    expected = "cudaErrorMemoryAllocation" if failure == "out-of-memory" else "no attribute"
    logged, warned = [], []
    backend = create_backend(config(tiny_model, tmp_path, backend="auto"), log=logged.append,
                             warn=warned.append)
    assert backend.name == "onnxruntime"
    assert logged[0].startswith("backend: tensorrt (auto: TensorRT 8.6.1 and GPU 0")
    assert len(warned) == 1 and warned[0].startswith("backend: falling back to onnxruntime")
    assert expected in warned[0]
    with pytest.raises(ModelLoadError, match=expected):
        create_backend(config(tiny_model, tmp_path))


def test_a_missing_model_is_reported_without_a_fallback(fake_gpu, tmp_path):
    fake_gpu()
    warned: list[str] = []
    with pytest.raises(ModelLoadError, match="missing.onnx' does not exist"):
        create_backend(config(tmp_path / "missing.onnx", tmp_path, backend="auto"),
                       warn=warned.append)
    assert warned == []


def test_a_driver_too_old_for_cuda_python_is_named_with_the_fix(fake_gpu):
    from fake_cuda import cudaError_t

    _, cuda = fake_gpu()
    cuda.device_error = cudaError_t.cudaErrorInsufficientDriver
    usable, why = tensorrt_status()
    assert not usable
    assert why.startswith("TensorRT 8.6.1 is installed but CUDA cannot start: cudaGetDeviceCount "
                          "failed: cudaErrorInsufficientDriver (35)")
    assert "cuda-python 13 needs driver r580" in why and "'cuda-python==12.6.*'" in why


def test_tensorrt_older_than_8_6_is_not_used(fake_gpu, tiny_model, tmp_path):
    fake_gpu("8.5.2.2")
    usable, why = tensorrt_status()
    assert not usable and "TensorRT 8.5.2.2 is older than 8.6" in why
    backend = create_backend(config(tiny_model, tmp_path, backend="auto"))
    assert backend.name == "onnxruntime"


def test_numpy_dtypes_come_from_our_table_not_trt_nptype(fake_gpu):
    """TensorRT 8.5.1/8.5.2's trt.nptype uses np.bool, gone since NumPy 1.24; the fake has none."""
    trt, _ = fake_gpu("10.3.0")
    from fanet_ros.runtime.tensorrt_backend import numpy_dtype

    assert not hasattr(trt, "nptype")
    assert numpy_dtype(trt.DataType.FLOAT) == np.float32
    assert numpy_dtype(trt.DataType.INT64) == np.int64
    assert numpy_dtype(trt.DataType.BOOL) == np.bool_


def test_stream_errors_other_than_not_ready_raise(fake_gpu):
    from fake_cuda import cudaError_t

    _, cuda = fake_gpu()
    from fanet_ros.tensorrt.cuda_runtime import Stream

    stream = Stream()
    cuda.cudaStreamQuery = lambda handle: (cudaError_t.cudaErrorInvalidValue,)
    with pytest.raises(CudaError, match=r"cudaStreamQuery failed: cudaErrorInvalidValue \(1\)"):
        stream.synchronize()


def test_auto_on_a_gpu_index_that_does_not_exist_warns_that_it_runs_on_the_cpu(
        fake_gpu, tiny_model, tmp_path):
    fake_gpu(devices=1)
    infos, warned = [], []
    backend = create_backend(config(tiny_model, tmp_path, backend="auto", gpu_device=1),
                             log=infos.append, warn=warned.append)
    backend.close()
    assert isinstance(backend, OnnxRuntimeBackend)
    assert warned == ["backend: onnxruntime (auto: TensorRT not usable (gpu_device 1 does "
                        "not exist (1 CUDA device(s) visible; check CUDA_VISIBLE_DEVICES)))"]
    create_backend(config(tiny_model, tmp_path, backend="auto", gpu_device=0),
                   log=infos.append, warn=warned.append).close()
    assert len(warned) == 1
    assert any(i.startswith("backend: tensorrt (auto: TensorRT") for i in infos)


def test_two_backends_on_two_gpus_in_one_thread_each_run_on_their_own(
    fake_gpu, tiny_model, tmp_path
):
    """The current device is per thread: the second backend's set-up selects GPU 1 on this
    thread, so the first must select GPU 0 again for each inference and in close."""
    _, cuda = fake_gpu(devices=2)
    first = create_backend(config(tiny_model, tmp_path, gpu_device=0))
    second = create_backend(config(tiny_model, tmp_path, gpu_device=1))
    frame = np.random.default_rng(0).random((1, 64, 96, 3), dtype=np.float32)
    try:
        expected = first.infer(frame)
        np.testing.assert_array_equal(second.infer(frame), expected)
        np.testing.assert_array_equal(first.infer(frame), expected)
    finally:
        first.close()
        second.close()
    assert cuda.wrong_device_calls == [] and cuda.live == {}


def test_the_fake_keeps_the_current_device_per_thread(fake_gpu):
    import threading

    _, cuda = fake_gpu(devices=2)
    from fanet_ros.tensorrt.cuda_runtime import select_device

    select_device(1)
    seen = []
    worker = threading.Thread(target=lambda: seen.append(cuda.current_device()))
    worker.start()
    worker.join()
    assert cuda.current_device() == 1 and seen == [0]


def test_a_missing_wait_reads_stale_memory_on_the_fake(fake_gpu):
    """Asynchronous copies complete only when the stream is waited for, as on a GPU."""
    _, cuda = fake_gpu(busy_queries=2)
    from fanet_ros.tensorrt.cuda_runtime import DeviceBuffer, PinnedArray, Stream

    source, target = PinnedArray((4,), np.float32), PinnedArray((4,), np.float32)
    device, stream = DeviceBuffer(16), Stream()
    source.array[...] = [1, 2, 3, 4]
    target.array[...] = 0
    stream.upload(device, source)
    stream.download(target, device)
    assert not target.array.any()  # nothing has run yet
    stream.synchronize()
    np.testing.assert_array_equal(target.array, [1, 2, 3, 4])
    for buffer in (source, target, device):
        buffer.free()
    stream.destroy()


def test_an_engine_without_an_execution_context_is_a_clear_error(fake_gpu, tiny_model, tmp_path):
    """create_execution_context() returns None when TensorRT cannot make one (GPU memory)."""
    _, cuda = fake_gpu(context_none=True)
    importlib.import_module("fanet_ros.runtime.tensorrt_backend")
    with pytest.raises(ModelLoadError, match=r"could not create an execution context .*"
                                             r"create_execution_context\(\) returned None"):
        create_backend(config(tiny_model, tmp_path))
    assert cuda.live == {}


@pytest.mark.parametrize("cuda_version", ["12.6.0", "12.9.1"])
def test_the_stream_handle_is_passed_without_deprecated_int(
    fake_gpu, tiny_model, tmp_path, cuda_version
):
    """cuda-bindings 12.9.1 deprecated int(cudaStream_t); older releases only have int()."""
    fake_gpu(cuda_version=cuda_version)
    backend = create_backend(config(tiny_model, tmp_path))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            out = backend.infer(np.zeros((1, 64, 96, 3), np.float32))
    finally:
        backend.close()
    assert out.shape == (1, 64, 96, 11)


CUDA_START_FAILURE = ("CUDA initialization failure with error: 35. Please check your CUDA "
                      "installation: http://docs.nvidia.com/cuda/cuda-installation-guide-linux")


@pytest.mark.parametrize("created_first", ["Runtime", "Builder"])
def test_a_tensorrt_that_cannot_start_cuda_names_the_driver_fix(
    fake_gpu, tiny_model, tmp_path, monkeypatch, created_first
):
    """pip's TensorRT 11 is built for CUDA 13; on an older driver ``trt.Runtime(logger)``
    logs error 35 and raises pybind11's TypeError (NVIDIA/TensorRT#2913), which the node
    reported as "TypeError: pybind11::init(): factory function returned nullptr"."""
    trt, _ = fake_gpu("11.4.0")
    import fanet_ros.tensorrt.engine_spec as engine_spec

    monkeypatch.setattr(engine_spec, "tensorrt_cuda_wheels", lambda: ["tensorrt_cu13"])

    def fails_to_start_cuda(logger):
        logger.log(trt.ILogger.Severity.ERROR, CUDA_START_FAILURE)
        raise TypeError("pybind11::init(): factory function returned nullptr")

    setattr(trt, created_first, fails_to_start_cuda)  # Builder: the engine is not cached yet
    with pytest.raises(ModelLoadError) as raised:
        create_backend(config(tiny_model, tmp_path))
    message = str(raised.value)
    assert "TensorRT 11.4.0 (pip: tensorrt_cu13) could not start CUDA" in message
    assert "upgrade the NVIDIA driver" in message and "'pip install tensorrt-cu12'" in message
    assert CUDA_START_FAILURE in message and "pybind11" not in message


def test_cuda_start_advice_follows_what_is_installed_and_what_tensorrt_said():
    from fanet_ros.tensorrt.build_advice import cuda_start_advice

    cu12 = cuda_start_advice("10.13", [CUDA_START_FAILURE], ["tensorrt_cu12"])
    assert "upgrade the NVIDIA driver" in cu12 and "pip install" not in cu12
    jetson = cuda_start_advice("10.3.0", ["CUDA initialization failure with error: 999"], [])
    assert "check the driver and the CUDA install" in jetson and "error 35" not in jetson


def refuse_engines_logging(trt, monkeypatch, error: str) -> None:
    """Every engine deserialised from now on logs ``error`` and returns None, as TensorRT does."""
    def refuse(self, data):
        self.logger.log(trt.ILogger.Severity.ERROR, error)

    monkeypatch.setattr(trt.Runtime, "deserialize_cuda_engine", refuse)


def test_a_cached_engine_without_gpu_memory_to_load_is_not_rebuilt(
    fake_gpu, tiny_model, tmp_path, monkeypatch
):
    """Rebuilding under the same memory pressure took minutes, replaced a good engine, then
    failed; TensorRT's reason showed only on stderr."""
    trt, _ = fake_gpu()
    create_backend(config(tiny_model, tmp_path)).close()
    engine_file = next((tmp_path / "engines").glob("*.engine"))
    cached, builds = engine_file.read_bytes(), len(trt.builds)
    refuse_engines_logging(trt, monkeypatch, "[defaultAllocator.cpp::allocate::20] Error Code 1: "
                           "Cuda Runtime (out of memory)")
    with pytest.raises(ModelLoadError, match=r"too little free memory to load .*stop other GPU "
                       r"processes.*TensorRT said: .*Cuda Runtime \(out of memory\)"):
        create_backend(config(tiny_model, tmp_path))
    assert len(trt.builds) == builds and engine_file.read_bytes() == cached


def test_a_cached_engine_tensorrt_rejects_is_rebuilt_saying_why(
    fake_gpu, tiny_model, tmp_path, monkeypatch
):
    trt, _ = fake_gpu()
    create_backend(config(tiny_model, tmp_path)).close()
    rejection = ("1: [stdArchiveReader.cpp::StdArchiveReader::42] Error Code 1: Serialization "
                 "(Serialization assertion stdVersionRead == serializationVersion failed.)")
    deserialize = trt.Runtime.deserialize_cuda_engine
    calls = []

    def reject_once(self, data):
        calls.append(data)
        if len(calls) == 1:
            self.logger.log(trt.ILogger.Severity.ERROR, rejection)
            return None
        return deserialize(self, data)

    monkeypatch.setattr(trt.Runtime, "deserialize_cuda_engine", reject_once)
    logged: list[str] = []
    create_backend(config(tiny_model, tmp_path), log=logged.append).close()
    assert any("failed to deserialise (TensorRT said: " in m and "stdVersionRead" in m
               for m in logged if m.startswith("building TensorRT engine"))


def test_an_unwritable_cache_says_why_the_engine_had_to_be_built(
    fake_gpu, tiny_model, tmp_path, monkeypatch
):
    """A read-only provisioned cache after a TensorRT upgrade said only 'Permission denied',
    not that it holds no engine for this TensorRT."""
    from fanet_ros.tensorrt.engine_cache import EngineCache

    fake_gpu()
    create_backend(config(tiny_model, tmp_path)).close()
    fake_gpu("10.3.0")

    def read_only(self, key, log):
        raise PermissionError(13, "Permission denied", str(self.lock_path(key)))

    monkeypatch.setattr(EngineCache, "build_lock", read_only)
    with pytest.raises(ModelLoadError, match=r"cannot write TensorRT engines to .*\(Permission "
                       r"denied; needed to build: no cached engine \S+_trt10\.3\.0_\S+ in .*\); "
                       r"set engine_cache_dir"):
        create_backend(config(tiny_model, tmp_path))


def test_an_optimization_profile_tensorrt_refuses_is_a_clear_error(
    fake_gpu, tiny_model, tmp_path, monkeypatch
):
    """add_optimization_profile returns -1 for a profile TensorRT finds invalid; unchecked,
    the build failed later without saying why."""
    trt, _ = fake_gpu()
    config_type = type(trt.Builder(None).create_builder_config())
    monkeypatch.setattr(config_type, "add_optimization_profile", lambda self, profile: -1)
    with pytest.raises(ModelLoadError, match=r"refused the input shape \(1, 64, 96, 3\) for "
                                             r"'image'.*use another input size"):
        create_backend(config(tiny_model, tmp_path))
