"""The CUDA half of the TensorRT backend: devices, allocations, copies and streams.

Runs twice: against cuda-python on a real GPU (skipped, with the reason,
where cuda-python or a GPU is missing; TensorRT is not needed) and against
the host-memory fake of ``fake_cuda``, so the same code is exercised on CI.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from fake_cuda import install_fake_cuda

from fanet_ros.tensorrt import cuda_runtime as cr


def _real_gpu_problem() -> str:
    try:
        importlib.import_module("cuda.bindings.runtime")
    except ImportError:
        try:
            importlib.import_module("cuda.cudart")
        except ImportError:
            return "cuda-python is not installed"
    try:
        count = cr.device_count()
    except Exception as exc:
        return f"no usable CUDA GPU ({exc})"
    return "" if count else "no CUDA GPU is visible"


@pytest.fixture(params=["cuda-python", "host-fake"])
def cuda(request, monkeypatch):
    if request.param == "cuda-python":
        problem = _real_gpu_problem()
        if problem:
            pytest.skip(problem)
        return None
    return install_fake_cuda(monkeypatch, devices=2)


def test_every_device_has_facts_and_can_be_selected(cuda):
    count = cr.device_count()
    assert count >= 1
    for index in range(count):
        gpu = cr.gpu_facts(index)
        assert gpu.index == index and gpu.name and "\x00" not in gpu.name
        major, minor = gpu.compute_capability.split(".")
        assert int(major) >= 5 and int(minor) >= 0
        assert gpu.multiprocessor_count > 0 and gpu.total_memory_mb > 512
        cr.select_device(index)
    cr.select_device(0)


def test_a_device_that_does_not_exist_is_a_named_error(cuda):
    with pytest.raises(cr.CudaError, match=r"cudaSetDevice\(\d+\) failed: cudaErrorInvalidDevice"):
        cr.select_device(cr.device_count())


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.uint8])
def test_round_trip_through_device_memory_on_a_stream(cuda, dtype):
    cr.select_device(0)
    rng = np.random.default_rng(0)
    source = cr.PinnedArray((1, 64, 96, 3), dtype)
    target = cr.PinnedArray((1, 64, 96, 3), dtype)
    device = cr.DeviceBuffer(source.array.nbytes)
    stream = cr.Stream()
    try:
        source.array[...] = rng.integers(0, 100, source.array.shape).astype(dtype)
        stream.upload(device, source)
        stream.download(target, device)
        stream.synchronize()
        np.testing.assert_array_equal(target.array, source.array)
        batch = rng.random((1, 64, 96, 3), dtype=np.float32).astype(dtype)
        cr.upload_sync(device, batch)
        stream.download(target, device)
        stream.synchronize()
        np.testing.assert_array_equal(target.array, batch)
    finally:
        for buffer in (device, source, target):
            buffer.free()
            buffer.free()  # twice is harmless
        stream.destroy()
        stream.destroy()
    if cuda is not None:
        assert cuda.live == {} and cuda.synchronize_calls == 0
