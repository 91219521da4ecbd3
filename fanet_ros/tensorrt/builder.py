"""ONNX -> serialised TensorRT engine (TensorRT 8.5, 8.6 and 10.x).

The caller selects the GPU first (:func:`fanet_ros.tensorrt.engines.open_engine`);
TensorRT builds for the current CUDA device.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorrt as trt

from fanet_ros.runtime.base import ModelLoadError
from fanet_ros.tensorrt.calibration_data import CalibrationImages, ImageFolderError, list_images
from fanet_ros.tensorrt.engines import CALIBRATION_IMAGE_LIMIT, EngineSpec, trt_logger


class EngineBuildError(ModelLoadError):
    """TensorRT rejected the model or the settings; the message says what to change."""


def build_serialized_engine(spec: EngineSpec, log: Callable[[str], None]) -> bytes:
    """Parse ``spec.onnx_path`` and build an engine for one ``[1, H, W, 3]`` input."""
    _check_precision_supported(spec.precision)
    builder = trt.Builder(trt_logger())
    network = _create_network(builder)
    parser = trt.OnnxParser(network, trt_logger())
    if not parser.parse_from_file(str(spec.onnx_path)):
        raise EngineBuildError(_parser_report(parser, spec))

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, spec.workspace_mb << 20)
    image = network.get_input(0)
    shape = (1, spec.input_height, spec.input_width, 3)
    profile = None
    if any(d < 0 for d in image.shape):  # dynamic ONNX: one profile, fixed at the chosen size
        profile = builder.create_optimization_profile()
        profile.set_shape(image.name, shape, shape, shape)
        config.add_optimization_profile(profile)
    if spec.precision in ("fp16", "int8"):
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
    try:
        serialized = builder.build_serialized_network(network, config)
    finally:
        if calibrator is not None:
            calibrator.free()
    if serialized is None:
        raise EngineBuildError(
            f"TensorRT {trt.__version__} could not build a {spec.precision} engine for "
            f"'{spec.onnx_path}' (its messages above say why). Try a larger workspace_mb "
            f"(now {spec.workspace_mb}), precision fp32, or backend onnxruntime."
        )
    return bytes(serialized)


def _check_precision_supported(precision: str) -> None:
    if precision != "fp32" and not hasattr(trt.BuilderFlag, precision.upper()):
        raise EngineBuildError(
            f"TensorRT {trt.__version__} has no {precision} builder flag (TensorRT 11 "
            "builds strongly typed networks only). Use precision fp32, or TensorRT 8.5 to 10.x."
        )


def _create_network(builder: trt.Builder) -> trt.INetworkDefinition:
    """Explicit batch: a flag before TensorRT 10, the only mode since."""
    if int(trt.__version__.split(".")[0]) < 10:
        flag = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
        return builder.create_network(flag)
    return builder.create_network()


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


def _parser_report(parser: trt.OnnxParser, spec: EngineSpec) -> str:
    """Every parser error, with the ONNX node's name and operator where TensorRT gives them."""
    lines = []
    for index in range(parser.num_errors):
        error = parser.get_error(index)
        where = f"node #{error.node()}"
        if hasattr(error, "node_name"):  # TensorRT 8.6 and later
            where = f"node '{error.node_name()}' ({error.node_operator()})"
        lines.append(f"  {where}: {error.desc()}")
    return (
        f"TensorRT {trt.__version__} cannot parse '{spec.onnx_path}':\n" + "\n".join(lines)
        + "\nRe-export the model with `fanet-export` (ONNX opset 17), check the operator "
        "against TensorRT's ONNX support matrix for this version, or run it with backend "
        "onnxruntime."
    )
