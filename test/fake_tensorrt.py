"""A stand-in for the ``tensorrt`` module: the API fanet_ros calls, and the failures issue 16 names.

It behaves as TensorRT does where fanet_ros depends on it:

* the ONNX parser of 8.x rejects ``Cast(to=UINT8)`` of an integer tensor (ArgMax's
  INT64, which 8.x holds as INT32); 10.x takes it. ONNX INT64 outputs come out
  as INT32 before 10.x. The reason is TensorRT's, documented at ``DataType::kUINT8``
  in ``NvInferRuntimeBase.h`` (8.6): "kUINT8 conversions are only supported for
  {kFLOAT, kHALF}" and "not supported for {kINT8, kINT32, kBOOL}". The error text
  is the fake's own wording, not the parser's;
* the 8.x parser takes only a network created with the EXPLICIT_BATCH flag;
  from 10.x explicit batch is the only mode; 11.x networks are strongly typed;
* parser errors name the node (``node_name``, ``node_operator``) from 10.x on
  (TensorRT 9.1 added them); before, only its index (``node``);
* the Python trampolines of ``IInt8EntropyCalibrator2.get_batch`` and
  ``write_calibration_cache`` print an exception and go on (``get_batch``'s is
  taken for "no more batches", then the scales are cached);
* ``set_input_shape`` returns False for a shape outside the optimisation
  profile, ``set_tensor_address`` for an unknown tensor or a pointer off
  256-byte alignment; neither raises. ``create_execution_context`` may return
  None (``context_none``);
* ``execute_async_v3`` is queued on the CUDA stream and fails on a stream of
  another device than the current one, or when the engine's device is not current;
* TensorRT 11 has no FP16/INT8 builder flags and no INT8 calibrator;
* a failed build logs errors and returns ``None``; the timing cache keeps what
  a build timed, and a build with it re-times only what it lacks;
  ``set_timing_cache(cache, False)`` returns False for another device's timings
  (``timing_cache_of_another_device``); INT8 calibration of a dynamic network fails
  without ``set_calibration_profile``; ``IOptimizationProfile.set_shape`` raises
  RuntimeError for inconsistent shapes (``refuse_profile_shapes``);
* from 10.x a build reports its steps to ``config.progress_monitor``
  (``IProgressMonitor``) and is cancelled (returns ``None``) when ``step_complete``
  returns False or raises, as the binding's trampoline does (it prints the exception);
  ``trt.build_steps`` is called before each step (a test's hook).

"Engines" run the parsed ONNX graph with ONNX Runtime on the fake CUDA
memory of :mod:`fake_cuda`, so the data path of the backend is exercised.
"""

from __future__ import annotations

import ctypes
import enum
import hashlib
import json
import sys
import types

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto

INTEGER_PRODUCERS = {"ArgMax", "ArgMin", "Shape", "NonZero", "TopK"}


class Severity(enum.IntEnum):
    INTERNAL_ERROR = 0
    ERROR = 1
    WARNING = 2
    INFO = 3
    VERBOSE = 4


class ILogger:
    Severity = Severity

    def __init__(self) -> None:
        pass


class TensorIOMode(enum.Enum):
    NONE = 0
    INPUT = 1
    OUTPUT = 2


class ParserError:
    """8.x: the node's index only."""

    def __init__(self, node: int, desc: str, name: str = "", op: str = "") -> None:
        self._node, self._desc, self._name, self._op = node, desc, name, op

    def node(self) -> int:
        return self._node

    def desc(self) -> str:
        return self._desc


class NamedParserError(ParserError):
    """TensorRT 9.1 and later also name the node and its operator."""

    def node_name(self) -> str:
        return self._name

    def node_operator(self) -> str:
        return self._op


EXPLICIT_BATCH_ONLY = (
    "This version of the ONNX parser only supports TensorRT INetworkDefinitions with an explicit "
    "batch dimension. Please ensure the network was initialized with the kEXPLICIT_BATCH flag."
)


def make_fake_tensorrt(version: str = "8.6.1", fail_build_with: list[str] | None = None,
                       reject_ops: tuple[str, ...] = (), context_none: bool = False):
    """A fresh fake ``tensorrt`` module of ``version``; a build logs ``fail_build_with``
    as errors and returns None when it is given; the parser rejects nodes of
    ``reject_ops``; ``create_execution_context`` returns None if ``context_none``."""
    major = int(version.split(".")[0])
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.ILogger = ILogger
    trt.TensorIOMode = TensorIOMode
    error_type = NamedParserError if major >= 10 else ParserError
    trt.ParserError = error_type
    names = ["FLOAT", "HALF", "INT8", "INT32", "BOOL", "UINT8"] + (["INT64"] if major >= 10 else [])
    trt.DataType = enum.Enum("DataType", names)
    flags = (["FP16", "INT8"] if major < 11 else ["DEBUG"]) + ["TF32"]
    trt.BuilderFlag = enum.Enum("BuilderFlag", flags)
    trt.MemoryPoolType = enum.Enum("MemoryPoolType", ["WORKSPACE"])
    if major < 10:  # TensorRT 8.6's sources, in its order (10.x keeps the enum, all off)
        trt.TacticSource = enum.IntEnum("TacticSource", [
            "CUBLAS", "CUBLAS_LT", "CUDNN", "EDGE_MASK_CONVOLUTIONS", "JIT_CONVOLUTIONS"],
            start=0)
    trt.tactic_sources = []  # the tactic sources of every build that set them, for tests
    creation_flags = {"EXPLICIT_BATCH": 0} if major < 11 else {}
    if major >= 10:
        creation_flags["STRONGLY_TYPED"] = 1
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(**creation_flags)
    trt.builds = []  # (precision flags, calibration batches) of every build, for tests
    trt.networks = []  # (strongly typed, float types of the weights) of every build
    trt.timed = []  # kernels each build timed (those its timing cache lacked)
    trt.profiles = []  # (min, opt, max) input shapes of every optimisation profile
    trt.parsed = []  # sha256 of every graph given to the ONNX parser
    trt.build_steps = lambda step: None  # called before each reported build step (tests)
    trt.cancelled_builds = 0
    trt.refuse_profile_shapes = False  # tests: set_shape raises as the binding does on bad shapes
    trt.timing_cache_of_another_device = False  # tests: set_timing_cache refuses a saved cache
    if major >= 10:
        class IProgressMonitor:
            def __init__(self) -> None:
                pass

        trt.IProgressMonitor = IProgressMonitor

    if major < 11:
        class IInt8EntropyCalibrator2:
            def __init__(self) -> None:
                pass

        trt.IInt8EntropyCalibrator2 = IInt8EntropyCalibrator2

    class Tensor:
        def __init__(self, name: str, shape: tuple[int, ...]) -> None:
            self.name, self.shape = name, shape

    class Network:
        def __init__(self, flags: int) -> None:
            self.model: onnx.ModelProto | None = None
            self.explicit_batch = major >= 10 or bool(flags & 1)
            self.strongly_typed = major >= 11 or (major >= 10 and bool(flags & 2))

        def get_input(self, index: int) -> Tensor:
            info = self.model.graph.input[index]
            dims = tuple(d.dim_value if d.dim_value else -1 for d in
                         info.type.tensor_type.shape.dim)
            return Tensor(info.name, dims)

    class OnnxParser:
        def __init__(self, network: Network, logger: ILogger) -> None:
            self.network, self.logger, self.errors = network, logger, []

        @property
        def num_errors(self) -> int:
            return len(self.errors)

        def get_error(self, index: int) -> ParserError:
            return self.errors[index]

        def parse_from_file(self, path: str) -> bool:
            with open(path, "rb") as handle:
                return self.parse(handle.read())

        def parse(self, model: bytes, path: str | None = None) -> bool:
            trt.parsed.append(hashlib.sha256(bytes(model)).hexdigest())
            graph = onnx.load_from_string(bytes(model))
            if not self.network.explicit_batch:
                self.errors.append(error_type(-1, EXPLICIT_BATCH_ONLY))
                return False
            for index, node in enumerate(graph.graph.node):
                if node.op_type in reject_ops:
                    self.errors.append(error_type(
                        index, f"No importer registered for op: {node.op_type}", node.name,
                        node.op_type))
                    return False
            if major < 10:
                integers = {i.name for i in graph.graph.initializer
                            if i.data_type in (TensorProto.INT32, TensorProto.INT64)}
                for index, node in enumerate(graph.graph.node):
                    if node.op_type in INTEGER_PRODUCERS:
                        integers.update(node.output)
                    to = next((a.i for a in node.attribute if a.name == "to"), None)
                    if node.op_type == "Cast" and to == TensorProto.UINT8 and (
                        node.input[0] in integers
                    ):
                        self.errors.append(ParserError(index, (
                            "[fake] Cast to UINT8 from an integer tensor: TensorRT 8.6 converts "
                            "to kUINT8 only from {kFLOAT, kHALF} (NvInferRuntimeBase.h, "
                            "DataType::kUINT8)")))
                        return False
            self.network.model = graph
            return True

    class Profile:
        def set_shape(self, name, low, opt, high) -> None:
            low, opt, high = tuple(low), tuple(opt), tuple(high)
            if not (len(low) == len(opt) == len(high)
                    and all(a <= b <= c for a, b, c in zip(low, opt, high, strict=True))) or (
                    trt.refuse_profile_shapes):  # the binding's PY_ASSERT_RUNTIME_ERROR
                raise RuntimeError("Shape provided for min is inconsistent with other shapes.")
            self.shape = opt
            trt.profiles.append((low, opt, high))

    class TimingCache:
        def __init__(self, kernels: set[str]) -> None:
            self.kernels = kernels

        def serialize(self) -> memoryview:
            return memoryview(("FAKE-TIMING " + ",".join(sorted(self.kernels))).encode())

        def combine(self, input_cache: TimingCache, ignore_mismatch: bool) -> bool:
            self.kernels |= input_cache.kernels
            return True

    class Config:
        def __init__(self) -> None:
            self.flags, self.profile, self.int8_calibrator = {"TF32"}, None, None  # as TRT's
            self.calibration_profile = None
            self.tactic_sources = None
            self.timing_cache: TimingCache | None = None
            if major >= 10:
                self.progress_monitor = None

        def create_timing_cache(self, serialized) -> TimingCache | None:
            text = bytes(serialized).decode(errors="replace")
            if text and not text.startswith("FAKE-TIMING "):
                return None  # as TensorRT's noexcept createTimingCache does on bad data
            return TimingCache(set(filter(None, text[len("FAKE-TIMING "):].split(","))))

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            if cache is None:  # pybind11 cannot bind None to ITimingCache const&
                raise RuntimeError("")
            if trt.timing_cache_of_another_device and cache.kernels and not ignore_mismatch:
                return False  # TensorRT refuses timings of another device unless told not to
            self.timing_cache = cache
            return True

        def get_timing_cache(self) -> TimingCache | None:
            return self.timing_cache

        def set_memory_pool_limit(self, pool, size) -> None:
            self.workspace = size

        def set_flag(self, flag) -> None:
            self.flags.add(flag.name)

        def clear_flag(self, flag) -> None:
            self.flags.discard(flag.name)

        def get_tactic_sources(self) -> int:
            return (1 << len(trt.TacticSource)) - 1  # 8.x: every source on by default

        def set_tactic_sources(self, sources: int) -> bool:
            self.tactic_sources = sources
            return True

        def add_optimization_profile(self, profile: Profile) -> int:
            self.profile = profile
            return 0  # the profile's index; TensorRT returns -1 for an invalid one

        def set_calibration_profile(self, profile: Profile) -> None:
            self.calibration_profile = profile

    class Builder:
        def __init__(self, logger: ILogger) -> None:
            self.logger = logger

        def create_network(self, flags: int = 0) -> Network:
            return Network(flags)

        def create_builder_config(self) -> Config:
            return Config()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: Config):
            batches = _calibrate(config) if "INT8" in config.flags else 0
            trt.builds.append((sorted(config.flags), batches))
            if config.tactic_sources is not None:
                trt.tactic_sources.append(sorted(
                    s.name for s in trt.TacticSource if config.tactic_sources >> int(s) & 1))
            floats = {TensorProto.DataType.Name(i.data_type)
                      for i in network.model.graph.initializer
                      if i.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16)}
            trt.networks.append((network.strongly_typed, sorted(floats)))
            kernels = {f"{n.op_type}:{n.name}" for n in network.model.graph.node}
            known = config.timing_cache.kernels if config.timing_cache else set()
            trt.timed.append(len(kernels - known))
            if config.timing_cache:
                config.timing_cache.kernels |= kernels
            errors = list(fail_build_with or [])
            if "INT8" in config.flags and batches == 0 and config.int8_calibrator.cache is None:
                errors.append("Calibration failure occurred with no scaling factors detected.")
            if ("INT8" in config.flags and any(d < 0 for d in network.get_input(0).shape)
                    and config.calibration_profile is None):
                errors.append("Calibration profile must be provided when calibrating a network "
                              "with dynamic shapes.")
            for message in errors:
                self.logger.log(Severity.ERROR, message)
            if errors or not _steps_completed(config):
                return None
            image = network.get_input(0)
            shape = config.profile.shape if config.profile else image.shape
            return _serialize(network.model, image.name, shape)

    def _steps_completed(config: Config, steps: int = 4) -> bool:
        monitor = getattr(config, "progress_monitor", None)
        if monitor is not None:
            monitor.phase_start("Building engine", None, steps)
        for step in range(steps):
            trt.build_steps(step)
            if monitor is None:
                continue
            try:
                go_on = monitor.step_complete("Building engine", step)
            except BaseException as exc:  # what TensorRT's trampoline does
                print(f"[fake TensorRT] exception in step_complete: {exc!r}", file=sys.stderr)
                go_on = False
            if not go_on:
                monitor.phase_finish("Building engine")
                trt.cancelled_builds += 1
                return False
        if monitor is not None:
            monitor.phase_finish("Building engine")
        return True

    def _calibrate(config: Config) -> int:
        calibrator = config.int8_calibrator
        calibrator.cache = calibrator.read_calibration_cache()
        if calibrator.cache is not None:
            return 0
        batches = 0
        while True:
            try:
                pointers = calibrator.get_batch(["image"])
            except Exception as exc:  # what TensorRT's trampoline does
                print(f"[fake TensorRT] exception in get_batch: {exc}", file=sys.stderr)
                pointers = None
            if pointers is None:
                break
            batches += 1
        if batches:
            try:
                calibrator.write_calibration_cache(
                    memoryview(f"TRT-{major}-EntropyCalibration2 batches={batches}\n".encode()))
            except Exception as exc:  # what TensorRT's trampoline does
                print(f"[fake TensorRT] exception in write_calibration_cache: {exc}",
                      file=sys.stderr)
        return batches

    def _serialize(model: onnx.ModelProto, input_name: str, shape) -> bytes:
        session = ort.InferenceSession(model.SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        output = session.run(None, {input_name: np.zeros(shape, np.float32)})[0]
        if np.issubdtype(output.dtype, np.integer):
            dtype = "INT64" if major >= 10 and output.dtype == np.int64 else "INT32"
        else:
            dtype = "FLOAT"
        header = {"input": input_name, "shape": list(shape),
                  "output": session.get_outputs()[0].name, "out_shape": list(output.shape),
                  "out_dtype": dtype}
        return b"FAKE-ENGINE " + json.dumps(header).encode() + b"\n" + model.SerializeToString()

    class Engine:
        def __init__(self, header: dict, model: bytes, logger: ILogger) -> None:
            self.header, self.logger = header, logger
            self.device = _cuda().current_device()
            self.session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
            self.num_io_tensors = 2

        def get_tensor_name(self, index: int) -> str:
            return (self.header["input"], self.header["output"])[index]

        def get_tensor_mode(self, name: str) -> TensorIOMode:
            return TensorIOMode.INPUT if name == self.header["input"] else TensorIOMode.OUTPUT

        def get_tensor_dtype(self, name: str):
            kind = "FLOAT" if name == self.header["input"] else self.header["out_dtype"]
            return getattr(trt.DataType, kind)

        def create_execution_context(self) -> Context | None:
            return None if context_none else Context(self)

    class Context:
        def __init__(self, engine: Engine) -> None:
            self.engine, self.shape_set, self.addresses = engine, False, {}

        def set_input_shape(self, name: str, shape) -> bool:
            if name != self.engine.header["input"] or list(shape) != self.engine.header["shape"]:
                self.engine.logger.log(Severity.ERROR, f"setInputShape: {name} {tuple(shape)} "
                                       "is outside the optimization profile")
                return False
            self.shape_set = True
            return True

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            if name == self.engine.header["input"]:
                return tuple(self.engine.header["shape"])
            shape = self.engine.header["out_shape"]
            return tuple(shape) if self.shape_set else tuple(-1 for _ in shape)

        def set_tensor_address(self, name: str, address: int) -> bool:
            known = name in (self.engine.header["input"], self.engine.header["output"])
            if not known or address % 256:
                self.engine.logger.log(Severity.ERROR, f"setTensorAddress: {name} rejected")
                return False
            self.addresses[name] = address
            return True

        def execute_async_v3(self, stream_handle: int) -> bool:
            if not isinstance(stream_handle, int):
                raise TypeError("execute_async_v3(): incompatible function arguments: "
                                "stream_handle must be an int")
            cuda = _cuda()
            if cuda.current_device() != self.engine.device or not cuda.launch(
                stream_handle, self._run
            ):
                self.engine.logger.log(Severity.ERROR, (
                    f"enqueueV3: engine of device {self.engine.device} run while device "
                    f"{cuda.current_device()} is current (cudaErrorInvalidResourceHandle)"))
                return False
            return True

        def _run(self) -> None:
            header = self.engine.header
            count = int(np.prod(header["shape"]))
            raw = (ctypes.c_float * count).from_address(self.addresses[header["input"]])
            image = np.frombuffer(raw, np.float32).reshape(header["shape"])
            output = self.engine.session.run(None, {header["input"]: image})[0]
            dtype = {"FLOAT": np.float32, "INT32": np.int32, "INT64": np.int64}[header["out_dtype"]]
            output = np.ascontiguousarray(output, dtype=dtype)
            ctypes.memmove(self.addresses[header["output"]], output.ctypes.data, output.nbytes)

    class Runtime:
        def __init__(self, logger: ILogger) -> None:
            self.logger = logger

        def deserialize_cuda_engine(self, data: bytes) -> Engine | None:
            if not data.startswith(b"FAKE-ENGINE "):
                return None
            header, model = data[len(b"FAKE-ENGINE "):].split(b"\n", 1)
            return Engine(json.loads(header), model, self.logger)

    trt.Builder, trt.OnnxParser, trt.Runtime = Builder, OnnxParser, Runtime
    return trt


def _cuda():
    return sys.modules["cuda.bindings.runtime"]


TENSORRT_MODULES = ("fanet_ros.runtime.tensorrt_backend", "fanet_ros.tensorrt.builder",
                    "fanet_ros.tensorrt.calibrator", "fanet_ros.tensorrt.logger")
"""fanet_ros modules that import tensorrt at the top: imported afresh under each fake."""


def forget_tensorrt_modules() -> None:
    """Drop fanet_ros modules bound to a fake ``tensorrt`` and the cached logger."""
    from fanet_ros.tensorrt.engine_spec import trt_logger

    for name in TENSORRT_MODULES:
        sys.modules.pop(name, None)
    trt_logger.cache_clear()


def install_fake_gpu(monkeypatch, version: str = "8.6.1",
                     fail_build_with: list[str] | None = None, reject_ops: tuple[str, ...] = (),
                     context_none: bool = False, **cuda_options):
    """Fake ``tensorrt`` of ``version`` and fake CUDA (``fake_cuda``) for one test."""
    from fake_cuda import install_fake_cuda

    cuda = install_fake_cuda(monkeypatch, **cuda_options)
    trt = make_fake_tensorrt(version, fail_build_with, reject_ops, context_none)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    forget_tensorrt_modules()
    return trt, cuda
