"""A host-memory stand-in for cuda-python's ``cuda.bindings.runtime``, for machines without a GPU.

Device and pinned memory are ordinary host memory, copies are ``memmove``,
and a stream reports ``cudaErrorNotReady`` to the first ``busy_queries``
``cudaStreamQuery`` calls after work was queued, as a busy GPU does.
``cudaStreamSynchronize`` raises: with cuda-python older than 12.9.1 it holds
the GIL for the whole wait, so fanet_ros must not call it. Install with
:func:`install_fake_cuda`.
"""

from __future__ import annotations

import ctypes
import enum
import sys
import types
from dataclasses import dataclass

ALIGNMENT = 256


class cudaError_t(enum.IntEnum):  # noqa: N801 - the binding's name
    cudaSuccess = 0
    cudaErrorMemoryAllocation = 2
    cudaErrorInsufficientDriver = 35
    cudaErrorInvalidDevice = 101
    cudaErrorInvalidValue = 1
    cudaErrorNotReady = 600


class cudaMemcpyKind(enum.IntEnum):  # noqa: N801
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2


@dataclass
class Props:
    name: bytes
    major: int
    minor: int
    multiProcessorCount: int  # noqa: N815
    totalGlobalMem: int  # noqa: N815


class FakeCudaRuntime(types.ModuleType):
    """The calls fanet_ros makes, with knobs for the failures tests need."""

    def __init__(
        self, devices: int = 1, busy_queries: int = 2, fail_malloc_after: int | None = None,
        misalign: bool = False,
    ) -> None:
        super().__init__("cuda.bindings.runtime")
        self.cudaError_t = cudaError_t
        self.cudaMemcpyKind = cudaMemcpyKind
        self.devices = devices
        self.busy_queries = busy_queries
        self.current_device = 0
        self.device_error: cudaError_t | None = None
        """Returned by cudaGetDeviceCount (e.g. cudaErrorInsufficientDriver)."""
        self.fail_malloc_after = fail_malloc_after
        """Fail cudaMalloc with cudaErrorMemoryAllocation after this many allocations."""
        self.misalign = misalign
        """Return device pointers 8 bytes off TensorRT's 256-byte alignment."""
        self.live: dict[int, ctypes.Array] = {}
        self.queries = 0
        self.synchronize_calls = 0
        self._busy: dict[int, int] = {}
        self._mallocs = 0
        self._next_stream = 1

    # -- devices ----------------------------------------------------------------
    def cudaGetErrorName(self, error):  # noqa: N802
        return cudaError_t.cudaSuccess, cudaError_t(int(error)).name.encode()

    def cudaGetDeviceCount(self):  # noqa: N802
        if self.device_error is not None:
            return self.device_error, 0
        return cudaError_t.cudaSuccess, self.devices

    def cudaGetDeviceProperties(self, index):  # noqa: N802
        if not 0 <= index < self.devices:
            return cudaError_t.cudaErrorInvalidDevice, None
        props = Props(b"Fake Orin\x00\x00", 8, 7, 8 + 8 * index, (16 - 8 * index) << 30)
        return cudaError_t.cudaSuccess, props

    def cudaSetDevice(self, index):  # noqa: N802
        if not 0 <= index < self.devices:
            return (cudaError_t.cudaErrorInvalidDevice,)
        self.current_device = index
        return (cudaError_t.cudaSuccess,)

    # -- memory -----------------------------------------------------------------
    def _allocate(self, nbytes: int) -> int:
        raw = (ctypes.c_byte * (nbytes + 2 * ALIGNMENT))()
        address = ctypes.addressof(raw)
        ptr = address + (-address % ALIGNMENT) + (8 if self.misalign else 0)
        self.live[ptr] = raw
        return ptr

    def cudaMalloc(self, nbytes):  # noqa: N802
        self._mallocs += 1
        if self.fail_malloc_after is not None and self._mallocs > self.fail_malloc_after:
            return cudaError_t.cudaErrorMemoryAllocation, 0
        return cudaError_t.cudaSuccess, self._allocate(nbytes)

    def cudaMallocHost(self, nbytes):  # noqa: N802
        return cudaError_t.cudaSuccess, self._allocate(nbytes)

    def _free(self, ptr):
        return (cudaError_t.cudaSuccess,) if self.live.pop(ptr, None) is not None else (
            cudaError_t.cudaErrorInvalidValue,
        )

    cudaFree = _free  # noqa: N815
    cudaFreeHost = _free  # noqa: N815

    def cudaMemcpy(self, dst, src, nbytes, kind):  # noqa: N802
        ctypes.memmove(dst, src, nbytes)
        return (cudaError_t.cudaSuccess,)

    # -- streams ----------------------------------------------------------------
    def cudaStreamCreate(self):  # noqa: N802
        handle, self._next_stream = self._next_stream, self._next_stream + 1
        self._busy[handle] = 0
        return cudaError_t.cudaSuccess, handle

    def cudaStreamDestroy(self, handle):  # noqa: N802
        return (cudaError_t.cudaSuccess,) if self._busy.pop(handle, None) is not None else (
            cudaError_t.cudaErrorInvalidValue,
        )

    def cudaMemcpyAsync(self, dst, src, nbytes, kind, stream):  # noqa: N802
        ctypes.memmove(dst, src, nbytes)
        self.queue_work(stream)
        return (cudaError_t.cudaSuccess,)

    def queue_work(self, stream) -> None:
        self._busy[int(stream)] = self.busy_queries

    def cudaStreamQuery(self, stream):  # noqa: N802
        self.queries += 1
        if self._busy.get(int(stream), 0) > 0:
            self._busy[int(stream)] -= 1
            return (cudaError_t.cudaErrorNotReady,)
        return (cudaError_t.cudaSuccess,)

    def cudaStreamSynchronize(self, stream):  # noqa: N802
        self.synchronize_calls += 1
        raise AssertionError("cudaStreamSynchronize holds the GIL with cuda-python < 12.9.1")


def install_fake_cuda(monkeypatch, **options) -> FakeCudaRuntime:
    """Make ``from cuda.bindings import runtime`` return a fresh fake for this test."""
    runtime = FakeCudaRuntime(**options)
    cuda = types.ModuleType("cuda")
    bindings = types.ModuleType("cuda.bindings")
    bindings.runtime = runtime
    cuda.bindings = bindings
    monkeypatch.setitem(sys.modules, "cuda", cuda)
    monkeypatch.setitem(sys.modules, "cuda.bindings", bindings)
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", runtime)
    return runtime
