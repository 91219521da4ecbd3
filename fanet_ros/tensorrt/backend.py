"""TensorRT backend: one engine, one CUDA stream, buffers allocated once.

Uses the name-based tensor API (``num_io_tensors``, ``set_tensor_address``,
``execute_async_v3``) of TensorRT 8.5 and later, so JetPack 5 (8.5) and
JetPack 6 (8.6 / 10.x) both work. Inputs and outputs go through page-locked
host buffers with asynchronous copies; a model with the arg-max folded in
(``output: labels``) copies back only its integer label map.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tensorrt as trt

from fanet_ros.runtime.base import InferenceBackend, ModelLoadError
from fanet_ros.runtime.select import BackendConfig
from fanet_ros.tensorrt.cuda_runtime import (
    CudaError,
    DeviceBuffer,
    PinnedArray,
    Stream,
    gpu_facts,
    select_device,
)
from fanet_ros.tensorrt.engines import EngineSpec, open_engine


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
        self._context = engine.create_execution_context()
        self._thread_device = threading.local()
        self._thread_device.selected = True  # open_engine selected it on this thread

        inputs, outputs = _io_tensor_names(engine)
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelLoadError(
                f"engine {engine_path} has inputs {inputs} and outputs {outputs}; fanet_ros "
                "models have one of each: delete the engine and check the ONNX model"
            )
        self._input, self._output = inputs[0], outputs[0]
        input_dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(self._input)))
        if input_dtype != np.float32:
            raise ModelLoadError(f"engine {engine_path} expects {input_dtype} input, not float32")
        self._context.set_input_shape(self._input, (1, self._height, self._width, 3))
        output_shape = tuple(self._context.get_tensor_shape(self._output))
        output_dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(self._output)))

        self._stream = Stream()
        self._host_in = PinnedArray((1, self._height, self._width, 3), np.float32)
        self._host_out = PinnedArray(output_shape, output_dtype)
        self._device_in = DeviceBuffer(self._host_in.array.nbytes)
        self._device_out = DeviceBuffer(self._host_out.array.nbytes)
        self._context.set_tensor_address(self._input, self._device_in.ptr)
        self._context.set_tensor_address(self._output, self._device_out.ptr)

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
        if not getattr(self._thread_device, "selected", False):  # the node's worker thread
            select_device(self._gpu)
            self._thread_device.selected = True
        np.copyto(self._host_in.array, batch)
        self._stream.upload(self._device_in, self._host_in)
        if not self._context.execute_async_v3(int(self._stream.handle)):
            raise RuntimeError(f"TensorRT inference failed on {self._device}")
        self._stream.download(self._host_out, self._device_out)
        self._stream.synchronize()
        return self._host_out.array.copy()

    def close(self) -> None:
        if self._context is None:
            return
        self._stream.synchronize()
        for buffer in (self._device_in, self._device_out, self._host_in, self._host_out):
            buffer.free()
        self._stream.destroy()
        self._context = None
        self._engine = None


def _io_tensor_names(engine: Any) -> tuple[list[str], list[str]]:
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
    outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
    return inputs, outputs
