"""ONNX -> serialised TensorRT engine (TensorRT 8.6, 10.x and 11.x).

The caller selects the GPU first (:func:`fanet_ros.tensorrt.engines.open_engine`);
TensorRT builds for the current CUDA device. The parser gets the graph
:func:`~fanet_ros.tensorrt.engine_spec.parser_graph` makes of the ONNX file (a labels
model's final uint8 Cast left out), not the file itself; the engine key holds its sha256.

Up to 10.x, fp16 and int8 are builder flags over the fp32 graph ("weak
typing"). TensorRT 11 removed those flags and the INT8 calibrator: networks
are strongly typed, each tensor's type comes from the graph. There fp16
builds from the graph converted to fp16 (:mod:`fanet_ros.onnx.fp16`)
and int8 is refused with what to do.

Every build loads and saves TensorRT's timing cache (the kernel timings of
this GPU and TensorRT version), so a rebuild does not time every kernel again;
the save merges what other builds saved meanwhile, under a file lock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx
import tensorrt as trt

from fanet_ros.onnx.tensorrt_graph import data_type_problems
from fanet_ros.runtime.base import ModelLoadError
from fanet_ros.shipped_models import EngineBuildInterrupted
from fanet_ros.tensorrt.build_advice import build_failure_advice, tensorrt_said
from fanet_ros.tensorrt.calibration_data import CalibrationImages, ImageFolderError, list_images
from fanet_ros.tensorrt.engine_cache import atomic_write_bytes, exclusive_lock
from fanet_ros.tensorrt.engine_spec import (
    CALIBRATION_IMAGE_LIMIT,
    EngineSpec,
    parser_graph,
    start_tensorrt,
    trt_logger,
)
from fanet_ros.tensorrt.signal_watch import SignalWatch


class EngineBuildError(ModelLoadError):
    """TensorRT rejected the model or the settings; the message says what to change."""


LIBRARY_TACTICS = ("CUBLAS", "CUBLAS_LT", "CUDNN")
"""Tactic sources TensorRT 8.x enables by default (10.x no longer does): kernels of other
libraries, whose versions an engine that used them would depend on without the engine key
holding them. 8.6 already keeps them out of its own layers by default (preview feature
``kDISABLE_EXTERNAL_TACTIC_SOURCES_FOR_CORE_0805``); plugins could still use them."""


def strongly_typed_only() -> bool:
    """True for TensorRT 11 and later: no precision builder flags, types come from the graph."""
    return not hasattr(trt.BuilderFlag, "FP16")


def build_serialized_engine(
    spec: EngineSpec, log: Callable[[str], None], timing_cache: Path | None = None
) -> bytes:
    """Parse ``spec.onnx_path`` and build an engine for one ``[1, H, W, 3]`` input.

    ``timing_cache``: TensorRT's timing cache file, read if present and written after the build.
    """
    _check_precision_supported(spec.precision)
    graph, changes = parser_graph(spec.onnx_path, spec.precision, spec.tensorrt_version)
    for change in changes:
        log(f"TensorRT engine builder: {change}")
    logger = trt_logger()
    builder = start_tensorrt(trt.Builder)  # takes earlier errors: this build's explain its failure
    network = _create_network(builder)
    parser = trt.OnnxParser(network, logger)
    serialized_graph = graph.SerializeToString()
    if hashlib.sha256(serialized_graph).hexdigest() != spec.graph_sha256:
        raise EngineBuildError(
            f"'{spec.onnx_path}' changed after its engine key was computed (replaced while the "
            "node started?); start again so the engine is built and cached under its own key"
        )
    if not parser.parse(serialized_graph):
        raise EngineBuildError(_parser_report(parser, graph, spec))

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, spec.workspace_mb << 20)
    if spec.precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)  # on by default (Ampere and later): fp32 is fp32
    if int(trt.__version__.split(".")[0]) < 10:
        _without_library_tactics(config)
    if timing_cache is not None:
        _load_timing_cache(config, timing_cache, log)
    image = network.get_input(0)
    shape = (1, spec.input_height, spec.input_width, 3)
    profile = None
    if any(d < 0 for d in image.shape):  # dynamic ONNX: one profile, fixed at the chosen size
        profile = builder.create_optimization_profile()
        try:  # the binding raises RuntimeError for shapes it finds inconsistent
            profile.set_shape(image.name, shape, shape, shape)
            refusal = None if config.add_optimization_profile(profile) >= 0 else ""  # -1: invalid
        except RuntimeError as exc:
            refusal = f"TensorRT said: {exc}"
        if refusal is not None:
            raise EngineBuildError(
                f"TensorRT {trt.__version__} refused the input shape {shape} for "
                f"'{image.name}' of '{spec.onnx_path}' "
                f"({refusal or tensorrt_said(logger.take_errors())}); use another input size")
    if spec.precision in ("fp16", "int8") and not strongly_typed_only():
        config.set_flag(trt.BuilderFlag.FP16)  # also the fallback for layers INT8 cannot run
    calibrator = None
    if spec.precision == "int8":
        from fanet_ros.tensorrt.calibrator import EntropyCalibrator

        calibrator = EntropyCalibrator(
            _calibration_images(spec), shape[0], spec.calibration_cache_path, log
        )
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = calibrator
        if profile is not None:
            config.set_calibration_profile(profile)

    log(f"TensorRT {trt.__version__}: building {spec.precision} engine for "
        f"{spec.onnx_path.name} at {spec.input_height}x{spec.input_width}")
    with SignalWatch() as watch:
        _cancel_on_signal(config, watch)
        try:
            serialized = builder.build_serialized_network(network, config)
        finally:
            if calibrator is not None:
                calibrator.free()
    if serialized is None and watch.arrived():
        raise EngineBuildInterrupted(
            f"the TensorRT engine build for '{spec.onnx_path}' was interrupted (SIGINT or "
            "SIGTERM); nothing was cached, the next start builds it again")
    if calibrator is not None and calibrator.error is not None:
        raise EngineBuildError(
            f"INT8 calibration failed while reading a batch: {calibrator.error} (no calibration "
            "cache was written; fix the images or use precision fp16)"
        ) from calibrator.error
    if calibrator is not None and calibrator.write_error is not None:
        raise EngineBuildError(
            f"INT8 calibration ran but its cache {spec.calibration_cache_path} could not be "
            f"written: {calibrator.write_error}. Free disk space or set engine_cache_dir to a "
            "writable folder, then start again (the engine was not cached)"
        ) from calibrator.write_error
    if serialized is None:
        advice = build_failure_advice(
            logger.take_errors(), spec.precision, spec.workspace_mb,
            spec.calibration_cache_path if spec.precision == "int8" else None,
        )
        raise EngineBuildError(
            f"TensorRT {trt.__version__} could not build a {spec.precision} engine for "
            f"'{spec.onnx_path}'. {advice}"
        )
    if timing_cache is not None:
        _save_timing_cache(config, timing_cache, log)
    return bytes(serialized)


def _cancel_on_signal(config: Any, watch: SignalWatch) -> None:
    """A progress monitor that cancels the build at its next step once ``watch`` sees a
    signal (TensorRT 9.0 and later: ``IProgressMonitor``; 8.6 runs the build to its end).
    An exception in ``step_complete`` (a Python signal handler run there) cancels it too:
    TensorRT's Python binding returns ``False`` then."""
    if not watch.active or not hasattr(trt, "IProgressMonitor") or \
            not hasattr(config, "progress_monitor"):
        return

    class CancelOnSignal(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            pass

        def step_complete(self, phase_name: str, step: int) -> bool:
            return not watch.arrived()

        def phase_finish(self, phase_name: str) -> None:
            pass

    config.progress_monitor = CancelOnSignal()  # the config keeps it alive


def _check_precision_supported(precision: str) -> None:
    if precision == "int8" and strongly_typed_only():
        raise EngineBuildError(
            f"TensorRT {trt.__version__} has no INT8 calibration (TensorRT 11 removed the INT8 "
            "builder flag and calibrators; INT8 there needs a model with Q/DQ nodes, e.g. from "
            "NVIDIA ModelOpt). Use precision fp16 or fp32, or install TensorRT 8.6 to 10.x "
            "(pip install 'tensorrt<11') for calibrated int8."
        )


def _without_library_tactics(config: trt.IBuilderConfig) -> None:
    """TensorRT's own kernels only, as TensorRT 10 builds by default: no engine that needs a
    given cuBLAS or cuDNN at run time (an upgrade of either would keep the key and break or
    slow the engine), and neither library is loaded (hundreds of MiB on a Jetson). Up to 8.5
    TensorRT's layers could pick them; on 8.6 only plugins could, so this is a guarantee."""
    sources = config.get_tactic_sources()
    for name in LIBRARY_TACTICS:
        source = getattr(trt.TacticSource, name, None)
        if source is not None:
            sources &= ~(1 << int(source))
    config.set_tactic_sources(sources)


def _create_network(builder: trt.Builder) -> trt.INetworkDefinition:
    """Explicit batch: a flag before TensorRT 10, the only mode since; 11 is strongly typed."""
    flags = trt.NetworkDefinitionCreationFlag
    if int(trt.__version__.split(".")[0]) < 10:
        return builder.create_network(1 << int(flags.EXPLICIT_BATCH))
    if strongly_typed_only() and hasattr(flags, "STRONGLY_TYPED"):
        return builder.create_network(1 << int(flags.STRONGLY_TYPED))  # the default in 11
    return builder.create_network()


def _read_timing_cache(config: Any, path: Path) -> tuple[Any | None, str]:
    """The timing cache saved at ``path``, else ``None`` and why ('' when there is no file)."""
    if not path.is_file():
        return None, ""
    try:
        cache = config.create_timing_cache(path.read_bytes())
    except OSError as exc:
        return None, f"cannot be read ({exc})"
    except Exception as exc:  # older bindings or a wrapper may raise on bad data
        return None, f"is unusable ({exc})"
    if cache is None:  # a corrupt file: createTimingCache is noexcept and returns None
        return None, "is unusable (TensorRT could not read it)"
    return cache, ""


def _load_timing_cache(config: Any, path: Path, log: Callable[[str], None]) -> None:
    """Start the build from the saved timing cache, or an empty one if it is missing or bad."""
    cache, problem = _read_timing_cache(config, path)
    if problem:
        log(f"TensorRT timing cache {path} {problem}; starting an empty one")
    if cache is None:
        cache = config.create_timing_cache(b"")
    if not config.set_timing_cache(cache, False):  # False: refuse another GPU's timings
        log(f"TensorRT refused the timing cache {path}; starting an empty one")
        config.set_timing_cache(config.create_timing_cache(b""), False)


def _save_timing_cache(config: Any, path: Path, log: Callable[[str], None]) -> None:
    """Save what this build timed together with what other builds (of other engines, in other
    processes) saved since it loaded the file; a failure costs only time on the next build."""
    cache = config.get_timing_cache()
    if cache is None:
        return
    try:
        with exclusive_lock(path.with_name(path.name + ".lock")):
            saved, _ = _read_timing_cache(config, path)
            if saved is not None:  # False: another GPU's timings are not taken in
                cache.combine(saved, False)
            atomic_write_bytes(path, bytes(cache.serialize()))
    except OSError as exc:
        log(f"TensorRT timing cache {path} could not be saved ({exc}); the next build times "
            "every kernel again")


def _calibration_images(spec: EngineSpec) -> CalibrationImages | None:
    """The calibration set, or ``None`` when a calibration cache makes it unnecessary."""
    if spec.calibration_cache_path.is_file():
        return None
    if not spec.calibration_dir:
        raise EngineBuildError(
            "precision int8 needs calibration images: set int8_calibration_dir (or "
            "--calibration-dir) to a folder of a few hundred typical camera images, or "
            f"provide the calibration cache {spec.calibration_cache_path}"
        )
    try:
        paths = list_images(spec.calibration_dir, limit=CALIBRATION_IMAGE_LIMIT)
    except ImageFolderError as exc:
        raise EngineBuildError(f"INT8 calibration: {exc}") from None
    normalization = spec.metadata.normalization
    return CalibrationImages(paths, spec.input_height, spec.input_width, normalization)


def _parser_report(parser: trt.OnnxParser, graph: onnx.ModelProto, spec: EngineSpec) -> str:
    """Every parser error with the ONNX node's name and operator, and the data-type problems."""
    lines = [f"  {_node_label(parser.get_error(i), graph)}: {parser.get_error(i).desc()}"
             for i in range(parser.num_errors)]
    problems = data_type_problems(graph)
    if problems:
        lines.append("Data types TensorRT cannot take:")
        lines += [f"  {problem}" for problem in problems]
    return (
        f"TensorRT {trt.__version__} cannot parse '{spec.onnx_path}':\n" + "\n".join(lines)
        + "\nRe-export the model with `fanet-export` (ONNX opset 17; it checks operators and "
        "data types), check the operator against TensorRT's ONNX support matrix for this "
        "version, or run it with backend onnxruntime."
    )


def _node_label(error: trt.ParserError, graph: onnx.ModelProto) -> str:
    """``node 'name' (Op)``: TensorRT 9.1+ names it; before, its index finds it in the graph."""
    if hasattr(error, "node_name"):
        if error.node_name() or error.node_operator():
            return f"node '{error.node_name()}' ({error.node_operator()})"
        return "the model"  # an error of no one node (an input, the opset)
    index = error.node()
    if 0 <= index < len(graph.graph.node):
        node = graph.graph.node[index]
        return f"node #{index} '{node.name}' ({node.op_type})"
    return "the model"
