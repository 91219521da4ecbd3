"""The few CUDA runtime calls TensorRT needs, through NVIDIA's ``cuda-python`` binding.

``cuda-python`` is NVIDIA's maintained binding of the CUDA runtime (the one
TensorRT's own samples use). Newer releases expose it as
``cuda.bindings.runtime``, older ones as ``cuda.cudart``; both are accepted.
Every call returns ``(error, results...)``; :func:`cuda_call` checks the
error and returns the results.

Waiting for the GPU (:meth:`Stream.synchronize`) polls ``cudaStreamQuery``
with short sleeps instead of calling ``cudaStreamSynchronize``: cuda-python
releases the GIL in blocking calls only from 12.9.1 / 13.0.0, and JetPack 6
needs the 12.2 to 12.6 releases, where ``cudaStreamSynchronize`` would stop
every other Python thread of the node for the whole inference.
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

INSTALL_HINT = (
    "install NVIDIA's CUDA binding for your CUDA 12 driver: `pip install 'cuda-python>=12.2,<13'` "
    "on a desktop, the release of your JetPack's CUDA on a Jetson (`pip install "
    "'cuda-python==12.6.*'` on JetPack 6.1/6.2, `'cuda-python==12.2.*'` on JetPack 6.0)"
)
INSUFFICIENT_DRIVER = 35
"""``cudaErrorInsufficientDriver``: the driver is older than the CUDA runtime cuda-python links."""
POLL_FIRST_S = 50e-6
POLL_MAX_S = 500e-6
"""Sleeps between ``cudaStreamQuery`` calls: doubling from 50 µs to at most 0.5 ms."""


class CudaError(RuntimeError):
    """A CUDA runtime call failed; the message names the call and the CUDA error."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


def import_cudart() -> ModuleType:
    """The CUDA runtime module of ``cuda-python`` (raises ImportError with the fix)."""
    try:
        from cuda.bindings import runtime
    except ImportError:
        try:
            from cuda import cudart as runtime
        except ImportError:
            raise ImportError(f"cuda-python is not installed: {INSTALL_HINT}") from None
    return runtime


def cuda_call(result: Any, what: str) -> Any:
    """Check the error of a ``cuda-python`` call; return its single result, a tuple or None."""
    cudart = import_cudart()
    error, *values = result if isinstance(result, tuple) else (result,)
    if error != cudart.cudaError_t.cudaSuccess:
        raise cuda_error(error, what)
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def cuda_error(error: Any, what: str) -> CudaError:
    """The :class:`CudaError` for a failed call: its name, number and, for error 35, the fix."""
    _, name = import_cudart().cudaGetErrorName(error)
    name = name.decode() if isinstance(name, bytes) else str(name)
    code = int(getattr(error, "value", error))
    message = f"{what} failed: {name} ({code})"
    if code == INSUFFICIENT_DRIVER:
        message += (
            ": the NVIDIA driver is older than the CUDA runtime of the installed cuda-python "
            "(cuda-python 13 needs driver r580 or later; JetPack 6 and older desktop drivers "
            f"need cuda-python 12). To fix it, {INSTALL_HINT}"
        )
    return CudaError(message, code)


@dataclass(frozen=True)
class GpuFacts:
    """What a GPU is, as far as engine compatibility goes."""

    index: int
    name: str
    compute_capability: str
    """``major.minor``, e.g. ``8.7`` for Jetson Orin."""
    multiprocessor_count: int
    total_memory_mb: int


def device_count() -> int:
    """Visible CUDA devices; does not create a context on any of them."""
    return int(cuda_call(import_cudart().cudaGetDeviceCount(), "cudaGetDeviceCount"))


def gpu_facts(index: int) -> GpuFacts:
    """Name, compute capability, multiprocessors and memory of device ``index`` (no context)."""
    props = cuda_call(import_cudart().cudaGetDeviceProperties(index), "cudaGetDeviceProperties")
    name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else props.name
    return GpuFacts(
        index,
        name.rstrip("\x00").strip(),
        f"{props.major}.{props.minor}",
        int(props.multiProcessorCount),
        int(props.totalGlobalMem) >> 20,
    )


def select_device(index: int) -> None:
    """Make ``index`` the current device of the calling thread (CUDA keeps one per thread)."""
    cuda_call(import_cudart().cudaSetDevice(index), f"cudaSetDevice({index})")


def native_handle(cuda_object: Any) -> int:
    """The address behind a cuda-python handle (e.g. a ``cudaStream_t``) as an ``int``.

    cuda-bindings 12.9.1 deprecated ``int(handle)`` for
    ``cuda.bindings.utils.get_cuda_native_handle``; older releases have only ``int()``.
    """
    try:
        from cuda.bindings.utils import get_cuda_native_handle
    except ImportError:
        return int(cuda_object)
    try:
        return int(get_cuda_native_handle(cuda_object))
    except TypeError:  # a type its table does not know ("Unknown type"): the old way works
        return int(cuda_object)


class DeviceBuffer:
    """``nbytes`` of device memory, freed by :meth:`free`."""

    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes
        self.ptr = int(cuda_call(import_cudart().cudaMalloc(nbytes), f"cudaMalloc({nbytes})"))

    def free(self) -> None:
        if self.ptr:
            cuda_call(import_cudart().cudaFree(self.ptr), "cudaFree")
            self.ptr = 0


class PinnedArray:
    """A numpy array in page-locked host memory (fast, truly asynchronous copies)."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        self.ptr = int(
            cuda_call(import_cudart().cudaMallocHost(nbytes), f"cudaMallocHost({nbytes})")
        )
        raw = (ctypes.c_byte * nbytes).from_address(self.ptr)
        self.array = np.frombuffer(raw, dtype=dtype).reshape(shape)

    def free(self) -> None:
        if self.ptr:
            self.array = None  # type: ignore[assignment]
            cuda_call(import_cudart().cudaFreeHost(self.ptr), "cudaFreeHost")
            self.ptr = 0


class Stream:
    """One CUDA stream with the asynchronous copies the backend needs."""

    def __init__(self) -> None:
        self.handle = cuda_call(import_cudart().cudaStreamCreate(), "cudaStreamCreate")

    def upload(self, device: DeviceBuffer, host: PinnedArray) -> None:
        cudart = import_cudart()
        kind = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        result = cudart.cudaMemcpyAsync(device.ptr, host.ptr, host.array.nbytes, kind, self.handle)
        cuda_call(result, "cudaMemcpyAsync (host to device)")

    def download(self, host: PinnedArray, device: DeviceBuffer) -> None:
        cudart = import_cudart()
        kind = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        result = cudart.cudaMemcpyAsync(host.ptr, device.ptr, host.array.nbytes, kind, self.handle)
        cuda_call(result, "cudaMemcpyAsync (device to host)")

    def synchronize(self) -> None:
        """Wait until the stream's work is done, letting other Python threads run meanwhile."""
        cudart = import_cudart()
        pause = POLL_FIRST_S
        while True:
            error = cudart.cudaStreamQuery(self.handle)
            error = error[0] if isinstance(error, tuple) else error
            if error == cudart.cudaError_t.cudaSuccess:
                return
            if error != cudart.cudaError_t.cudaErrorNotReady:
                raise cuda_error(error, "cudaStreamQuery")
            time.sleep(pause)  # releases the GIL
            pause = min(2 * pause, POLL_MAX_S)

    def destroy(self) -> None:
        if self.handle is not None:
            cuda_call(import_cudart().cudaStreamDestroy(self.handle), "cudaStreamDestroy")
            self.handle = None


def upload_sync(device: DeviceBuffer, host: np.ndarray) -> None:
    """Blocking copy of a contiguous host array to the device (calibration batches)."""
    cudart = import_cudart()
    host = np.ascontiguousarray(host)
    kind = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
    cuda_call(
        cudart.cudaMemcpy(device.ptr, host.ctypes.data, host.nbytes, kind), "cudaMemcpy"
    )
