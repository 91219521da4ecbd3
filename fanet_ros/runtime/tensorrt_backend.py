"""TensorRT backend: one engine, one CUDA stream, buffers allocated once.

Uses the name-based tensor API (``num_io_tensors``, ``set_tensor_address``,
``execute_async_v3``) of TensorRT 8.6, 10.x and 11.x (JetPack 6, desktop). Inputs
and outputs go through page-locked host buffers with asynchronous copies; a
model with the arg-max folded in (``output: labels``) copies back only its
integer class ids (INT32 or INT64: the engine has no uint8 cast, see
:mod:`fanet_ros.onnx.tensorrt_graph`); float logits or probabilities come
back as they are. The caller turns either into uint8 labels.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tensorrt as trt

from fanet_ros.runtime.base import InferenceBackend, ModelLoadError
from fanet_ros.runtime.config import BackendConfig
from fanet_ros.tensorrt.cuda_runtime import (
    CudaError,
    DeviceBuffer,
    PinnedArray,
    Stream,
    gpu_facts,
    native_handle,
    select_device,
)
from fanet_ros.tensorrt.engine_spec import EngineSpec
from fanet_ros.tensorrt.engines import open_engine

NUMPY_DTYPES = {
    "FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8, "INT32": np.int32,
    "INT64": np.int64, "BOOL": np.bool_, "UINT8": np.uint8,
}
"""TensorRT data type names -> NumPy. Not ``trt.nptype``: TensorRT 8.5's uses ``np.bool``,
which NumPy 1.24 removed, and its table differs between versions."""


def numpy_dtype(data_type: Any) -> np.dtype:
    """The NumPy dtype of a ``trt.DataType`` (members a version lacks are skipped)."""
    for name, dtype in NUMPY_DTYPES.items():
        member = getattr(trt.DataType, name, None)
        if member is not None and data_type == member:
            return np.dtype(dtype)
    raise ModelLoadError(
        f"the engine uses TensorRT data type {data_type} for an input or output, which has no "
        "NumPy equivalent: export the model with float32 input and float or integer output"
    )


class TensorRTBackend(InferenceBackend):
    """Runs a cached (or freshly built) TensorRT engine of the ONNX model."""

    name = "tensorrt"

    def __init__(self, spec: EngineSpec, runtime: Any, engine: Any, engine_path: Path) -> None:
        super().__init__(spec.onnx_path, spec.metadata)
        self.engine_path = engine_path
        self.precision = spec.precision
        self._gpu = spec.gpu_device
        self._height, self._width = spec.input_height, spec.input_width
        gpu = gpu_facts(spec.gpu_device)
        self._device = f"cuda:{gpu.index} ({gpu.name}, TensorRT {trt.__version__} {spec.precision})"
        self._runtime = runtime  # must outlive the engine
        self._engine = engine
        self._context: Any = None
        self._stream: Stream | None = None
        self._buffers: list[DeviceBuffer | PinnedArray] = []
        self._unclosed: weakref.finalize | None = None
        try:
            select_device(self._gpu)
            self._context = engine.create_execution_context()
            if self._context is None:
                raise ModelLoadError(
                    f"TensorRT could not create an execution context for engine {engine_path} "
                    f"on GPU {self._gpu} (create_execution_context() returned None; its log "
                    "above says why, usually too little free GPU memory): free GPU memory, or "
                    "use backend onnxruntime"
                )
            self._set_up(engine_path)
            # Pinned and device memory are not Python objects the garbage collector frees: a
            # backend dropped without close() (a Segmenter never closed) frees them at its end.
            self._unclosed = weakref.finalize(self, _free_gpu_memory, self._gpu, self._stream,
                                              list(self._buffers))
            # not at exit: a node's worker thread may still be inferring then (it is left to
            # the process exit on purpose), and the driver takes the memory back anyway
            self._unclosed.atexit = False
        except BaseException:
            with contextlib.suppress(Exception):  # the error that stopped the set-up wins
                self.close()
            raise

    def _set_up(self, engine_path: Path) -> None:
        engine, context = self._engine, self._context
        inputs, outputs = _io_tensor_names(engine)
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelLoadError(
                f"engine {engine_path} has inputs {inputs} and outputs {outputs}; fanet_ros "
                "models have one of each: delete the engine and check the ONNX model"
            )
        self._input, self._output = inputs[0], outputs[0]
        input_dtype = numpy_dtype(engine.get_tensor_dtype(self._input))
        if input_dtype != np.float32:
            raise ModelLoadError(f"engine {engine_path} expects {input_dtype} input, not float32")
        input_shape = (1, self._height, self._width, 3)
        if not context.set_input_shape(self._input, input_shape):
            raise ModelLoadError(
                f"engine {engine_path} rejects input '{self._input}' of shape {input_shape} "
                "(outside its optimisation profile): delete the engine so that it is rebuilt "
                "for this input size"
            )
        output_shape = tuple(context.get_tensor_shape(self._output))
        if any(d < 0 for d in output_shape):
            raise ModelLoadError(
                f"engine {engine_path}: output '{self._output}' has no fixed shape "
                f"({output_shape}) for input {input_shape}: delete the engine"
            )
        output_dtype = numpy_dtype(engine.get_tensor_dtype(self._output))

        self._stream = Stream()
        self._host_in = PinnedArray(input_shape, np.float32)
        self._buffers.append(self._host_in)
        self._host_out = PinnedArray(output_shape, output_dtype)
        self._buffers.append(self._host_out)
        self._device_in = DeviceBuffer(self._host_in.array.nbytes)
        self._buffers.append(self._device_in)
        self._device_out = DeviceBuffer(self._host_out.array.nbytes)
        self._buffers.append(self._device_out)
        for name, buffer in ((self._input, self._device_in), (self._output, self._device_out)):
            if not context.set_tensor_address(name, buffer.ptr):
                raise ModelLoadError(
                    f"TensorRT refused the device address of tensor '{name}' of engine "
                    f"{engine_path} (its log above says why): delete the engine, or use backend "
                    "onnxruntime"
                )

    @classmethod
    def from_config(
        cls, config: BackendConfig, log: Callable[[str], None] | None = None
    ) -> TensorRTBackend:
        """Select ``config.gpu_device``, load or build the engine, allocate the buffers."""
        spec, runtime, engine, path = open_engine(config, log or (lambda _message: None))
        try:
            return cls(spec, runtime, engine, path)
        except CudaError as exc:
            raise ModelLoadError(f"cannot set up engine {path} on GPU: {exc}") from None

    def infer(self, batch: np.ndarray) -> np.ndarray:
        # The current device is per host thread, and another backend on this thread may have
        # selected its own GPU since: select ours every time (cudaSetDevice is cheap).
        select_device(self._gpu)
        np.copyto(self._host_in.array, batch)
        self._stream.upload(self._device_in, self._host_in)
        if not self._context.execute_async_v3(native_handle(self._stream.handle)):
            raise RuntimeError(f"TensorRT inference failed on {self._device}")
        self._stream.download(self._host_out, self._device_out)
        self._stream.synchronize()
        return self._host_out.array.copy()

    def close(self) -> None:
        """Free the buffers and the stream, then the context and engine, each even when an
        earlier step fails (a sticky CUDA error); the first failure is raised at the end."""
        if self._engine is None:
            return
        if self._unclosed is not None:
            self._unclosed.detach()  # freed here, not again when garbage-collected
        stream, self._stream = self._stream, None
        buffers, self._buffers = self._buffers, []
        first_error = _free_gpu_memory(self._gpu, stream, buffers)
        self._context = None
        self._engine = None
        if first_error is not None:
            raise first_error


def _free_gpu_memory(gpu: int, stream: Stream | None,
                     buffers: list[DeviceBuffer | PinnedArray]) -> Exception | None:
    """Wait for ``stream``, free ``buffers`` and destroy it, on GPU ``gpu``; every step runs
    even when an earlier one fails, and the first failure is returned."""
    steps: list[Callable[[], object]] = [lambda: select_device(gpu)]
    if stream is not None:
        steps.append(stream.synchronize)
    steps += [buffer.free for buffer in reversed(buffers)]
    if stream is not None:
        steps.append(stream.destroy)
    first_error: Exception | None = None
    for step in steps:
        try:
            step()
        except Exception as exc:
            first_error = first_error or exc
    return first_error


def _io_tensor_names(engine: Any) -> tuple[list[str], list[str]]:
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
    outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
    return inputs, outputs
