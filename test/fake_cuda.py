"""A host-memory stand-in for cuda-python's ``cuda.bindings.runtime``, for machines without a GPU.

Device and pinned memory are ordinary host memory and copies are ``memmove``,
but it is as strict as the real runtime where fanet_ros depends on it:

* the current device is per host thread (``cudaSetDevice`` on one thread
  leaves the others on device 0), and each stream belongs to the device that
  was current when it was created;
* work queued on a stream (``cudaMemcpyAsync``, and the fake engine's
  ``execute_async_v3``) runs only when the stream is found idle by
  ``cudaStreamQuery``, which reports ``cudaErrorNotReady`` to the first
  ``busy_queries`` queries after work was queued, as a busy GPU does. A
  missing wait therefore reads stale memory;
* a kernel launched on a stream of another device than the current one fails
  (the CUDA programming guide: "a kernel launch will fail if it is issued to a
  stream that is not associated to the current device");
* streams are ``cudaStream_t`` objects; ``int()`` of one warns with a
  ``DeprecationWarning`` as cuda-bindings 12.9.1 and later do, and
  ``cuda.bindings.utils.get_cuda_native_handle`` gives the address;
* ``cudaStreamSynchronize`` raises: with cuda-python older than 12.9.1 it
  holds the GIL for the whole wait, so fanet_ros must not call it.

Install with :func:`install_fake_cuda`.
"""

from __future__ import annotations

import ctypes
import enum
import sys
import threading
import types
import warnings
from collections.abc import Callable
from dataclasses import dataclass

ALIGNMENT = 256


class cudaError_t(enum.IntEnum):  # noqa: N801 - the binding's name
    cudaSuccess = 0
    cudaErrorMemoryAllocation = 2
    cudaErrorInsufficientDriver = 35
    cudaErrorInvalidDevice = 101
    cudaErrorInvalidValue = 1
    cudaErrorInvalidResourceHandle = 400
    cudaErrorNotReady = 600
    cudaErrorIllegalAddress = 700


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


class cudaStream_t:  # noqa: N801 - the binding's name
    """A stream handle; ``int()`` of it is deprecated (cuda-bindings 12.9.1 and later)."""

    def __init__(self, address: int, device: int, deprecated_int: bool) -> None:
        self._address, self.device, self._deprecated_int = address, device, deprecated_int

    def __int__(self) -> int:
        if self._deprecated_int:
            warnings.warn("int(cudaStream_t) is deprecated: use get_cuda_native_handle()",
                          DeprecationWarning, stacklevel=2)
        return self._address

    def __eq__(self, other: object) -> bool:
        return isinstance(other, cudaStream_t) and other._address == self._address

    def __hash__(self) -> int:
        return hash(self._address)


class FakeCudaRuntime(types.ModuleType):
    """The calls fanet_ros makes, with knobs for the failures tests need."""

    def __init__(
        self, devices: int = 1, busy_queries: int = 2, fail_malloc_after: int | None = None,
        misalign: bool = False, cuda_version: str = "12.9.1",
    ) -> None:
        super().__init__("cuda.bindings.runtime")
        self.cudaError_t = cudaError_t
        self.cudaMemcpyKind = cudaMemcpyKind
        self.cudaStream_t = cudaStream_t
        self.devices = devices
        self.busy_queries = busy_queries
        self.version = cuda_version
        """cuda-bindings release: from 12.9.1 ``int(handle)`` warns and ``utils`` exists."""
        self.device_error: cudaError_t | None = None
        """Returned by cudaGetDeviceCount (e.g. cudaErrorInsufficientDriver)."""
        self.fail_malloc_after = fail_malloc_after
        """Fail cudaMalloc with cudaErrorMemoryAllocation after this many allocations."""
        self.misalign = misalign
        """Return device pointers 8 bytes off TensorRT's 256-byte alignment."""
        self.live: dict[int, ctypes.Array] = {}
        self.allocated_on: dict[int, int] = {}
        """Device of every live ``cudaMalloc`` pointer."""
        self.wrong_device_calls: list[str] = []
        """Calls made while another device than their memory's or stream's was current."""
        self.queries = 0
        self.synchronize_calls = 0
        self._thread = threading.local()
        self._busy: dict[int, int] = {}
        self._pending: dict[int, list[Callable[[], None]]] = {}
        self._stream_device: dict[int, int] = {}
        self._mallocs = 0
        self._next_stream = 0x7F000100

    # -- devices ----------------------------------------------------------------
    def current_device(self) -> int:
        """This thread's current device (0 until it calls cudaSetDevice)."""
        return getattr(self._thread, "device", 0)

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
        self._thread.device = index
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
        ptr = self._allocate(nbytes)
        self.allocated_on[ptr] = self.current_device()
        return cudaError_t.cudaSuccess, ptr

    def cudaMallocHost(self, nbytes):  # noqa: N802
        return cudaError_t.cudaSuccess, self._allocate(nbytes)

    def _free(self, ptr):
        device = self.allocated_on.pop(ptr, None)
        if device is not None and device != self.current_device():
            self.wrong_device_calls.append(f"cudaFree of device {device} memory")
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
        handle, self._next_stream = self._next_stream, self._next_stream + 0x100
        self._busy[handle], self._pending[handle] = 0, []
        self._stream_device[handle] = self.current_device()
        deprecated = tuple(int(p) for p in self.version.split(".")[:3]) >= (12, 9, 1)
        return cudaError_t.cudaSuccess, cudaStream_t(handle, self.current_device(), deprecated)

    def _address(self, stream) -> int:
        return stream._address if isinstance(stream, cudaStream_t) else int(stream)

    def cudaStreamDestroy(self, stream):  # noqa: N802
        address = self._address(stream)
        if self._stream_device.get(address, self.current_device()) != self.current_device():
            self.wrong_device_calls.append(f"cudaStreamDestroy of a device "
                                           f"{self._stream_device[address]} stream")
        self._run_pending(address)
        self._stream_device.pop(address, None)
        self._pending.pop(address, None)
        return (cudaError_t.cudaSuccess,) if self._busy.pop(address, None) is not None else (
            cudaError_t.cudaErrorInvalidResourceHandle,
        )

    def cudaMemcpyAsync(self, dst, src, nbytes, kind, stream):  # noqa: N802
        self.enqueue(stream, lambda: ctypes.memmove(dst, src, nbytes))
        return (cudaError_t.cudaSuccess,)

    def enqueue(self, stream, work: Callable[[], None]) -> None:
        """Queue ``work`` on ``stream``: it runs once the stream is waited for."""
        address = self._address(stream)
        self._pending[address].append(work)
        self._busy[address] = self.busy_queries

    def launch(self, stream, work: Callable[[], None]) -> bool:
        """A kernel launch (the fake engine's): refused on another device's stream."""
        address = self._address(stream)
        if self._stream_device.get(address) != self.current_device():
            return False
        self.enqueue(stream, work)
        return True

    def _run_pending(self, address: int) -> None:
        work, self._pending[address] = self._pending.get(address, []), []
        for item in work:
            item()

    def cudaStreamQuery(self, stream):  # noqa: N802
        self.queries += 1
        address = self._address(stream)
        if self._busy.get(address, 0) > 0:
            self._busy[address] -= 1
            return (cudaError_t.cudaErrorNotReady,)
        self._run_pending(address)
        return (cudaError_t.cudaSuccess,)

    def cudaStreamSynchronize(self, stream):  # noqa: N802
        self.synchronize_calls += 1
        raise AssertionError("cudaStreamSynchronize holds the GIL with cuda-python < 12.9.1")


def install_fake_cuda(monkeypatch, **options) -> FakeCudaRuntime:
    """Make ``from cuda.bindings import runtime`` (and ``utils``) return a fresh fake."""
    runtime = FakeCudaRuntime(**options)
    cuda = types.ModuleType("cuda")
    bindings = types.ModuleType("cuda.bindings")
    bindings.runtime = runtime
    cuda.bindings = bindings
    modules = {"cuda": cuda, "cuda.bindings": bindings, "cuda.bindings.runtime": runtime}
    if tuple(int(p) for p in runtime.version.split(".")[:3]) >= (12, 9, 1):
        utils = types.ModuleType("cuda.bindings.utils")
        utils.get_cuda_native_handle = lambda obj: obj._address
        bindings.utils = utils
        modules["cuda.bindings.utils"] = utils
    else:
        modules["cuda.bindings.utils"] = None  # "from cuda.bindings.utils import ..." fails
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    return runtime
