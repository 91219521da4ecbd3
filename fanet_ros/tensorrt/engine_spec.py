"""What engine to build for a model (:class:`EngineSpec`, read from the ONNX file and a
:class:`BackendConfig`) and the process's TensorRT logger: plain Python, shared by the
builder and by :mod:`fanet_ros.tensorrt.engines`, which opens the engine through the cache.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import onnx

from fanet_ros.model_metadata import ModelMetadata
from fanet_ros.onnx.fp16 import convert_to_fp16
from fanet_ros.onnx.tensorrt_graph import prepare_for_tensorrt
from fanet_ros.runtime.base import ModelLoadError
from fanet_ros.runtime.config import BackendConfig
from fanet_ros.runtime.onnxruntime_backend import load_session, model_input_size, resolve_input_size
from fanet_ros.tensorrt.availability import tensorrt_cuda_wheels
from fanet_ros.tensorrt.availability import tensorrt_version as installed_tensorrt_version
from fanet_ros.tensorrt.build_advice import cuda_start_advice
from fanet_ros.tensorrt.engine_cache import (
    EngineKey,
    EnvironmentFacts,
    default_cache_dir,
    file_sha256,
    slug,
)

T = TypeVar("T")

CALIBRATION_IMAGE_LIMIT = 500
"""At most this many images of int8_calibration_dir are used (sorted by name)."""


def builds_strongly_typed(tensorrt_version: str) -> bool:
    """TensorRT 11 and later build strongly typed networks only (types come from the graph)."""
    major = tensorrt_version.split(".")[0]
    return major.isdigit() and int(major) >= 11


def parser_graph(onnx_path: Path, precision: str, tensorrt_version: str
                 ) -> tuple[onnx.ModelProto, list[str]]:
    """The graph TensorRT's ONNX parser is given, and what was changed to make it.

    The ONNX file as :func:`~fanet_ros.onnx.tensorrt_graph.prepare_for_tensorrt` prepares it;
    for fp16 on a strongly typed TensorRT, converted to fp16 (:mod:`fanet_ros.onnx.fp16`).
    """
    graph, changes = prepare_for_tensorrt(onnx.load(str(onnx_path)))
    if builds_strongly_typed(tensorrt_version) and precision == "fp16":
        graph = convert_to_fp16(graph)
        changes.append(f"TensorRT {tensorrt_version} builds strongly typed networks, so the "
                       "graph was converted to fp16 (inputs and outputs stay fp32)")
    return graph, changes


@dataclass(frozen=True)
class EngineSpec:
    """What engine to build for a model, read from its ONNX file and the config."""

    onnx_path: Path
    onnx_sha256: str
    metadata: ModelMetadata
    input_height: int
    input_width: int
    precision: str
    workspace_mb: int
    calibration_dir: str
    cache_dir: Path
    gpu_device: int
    tensorrt_version: str
    """The installed TensorRT's (``none`` without it); names the calibration cache."""
    graph_sha256: str
    """sha256 of :func:`parser_graph`'s graph: what the engine is built from."""

    @classmethod
    def from_config(cls, config: BackendConfig, tensorrt_version: str | None = None) -> EngineSpec:
        """Validate the ONNX model (on ONNX Runtime, CPU) and resolve the input size.

        ``tensorrt_version`` defaults to the installed TensorRT's.
        """
        session, metadata = load_session(config.model_path)
        path = Path(config.model_path).expanduser()
        height, width = resolve_input_size(
            metadata, model_input_size(session, path), config.input_size, path
        )
        cache_dir = Path(config.engine_cache_dir).expanduser() if config.engine_cache_dir else (
            default_cache_dir()
        )
        version = tensorrt_version or installed_tensorrt_version()[0] or "none"
        graph, _ = parser_graph(path, config.precision, version)
        return cls(
            onnx_path=path,
            onnx_sha256=file_sha256(path),
            metadata=metadata,
            input_height=height,
            input_width=width,
            precision=config.precision,
            workspace_mb=config.workspace_mb,
            calibration_dir=config.int8_calibration_dir,
            cache_dir=cache_dir,
            gpu_device=config.gpu_device,
            tensorrt_version=version,
            graph_sha256=hashlib.sha256(graph.SerializeToString()).hexdigest(),
        )

    def key(self, environment: EnvironmentFacts, calibration: str = "") -> EngineKey:
        """``calibration``: the INT8 calibration cache's sha256 (empty for fp32 and fp16)."""
        return EngineKey(
            model_name=self.onnx_path.stem,
            graph_sha256=self.graph_sha256,
            precision=self.precision,
            input_height=self.input_height,
            input_width=self.input_width,
            environment=environment,
            calibration=calibration,
        )

    def calibration_images_digest(self) -> str:
        """Digest of ``calibration_dir``'s images and preprocessing; ``""`` without a folder."""
        if not self.calibration_dir:
            return ""
        from fanet_ros.tensorrt.calibration_data import ImageFolderError
        from fanet_ros.tensorrt.calibration_identity import images_digest

        try:
            return images_digest(self.calibration_dir, CALIBRATION_IMAGE_LIMIT, self.input_height,
                                 self.input_width, self.metadata.normalization)
        except ImageFolderError as exc:
            raise ModelLoadError(f"INT8 calibration: {exc}") from None

    @property
    def calibration_cache_path(self) -> Path:
        """INT8 scales for this ONNX file, input size and TensorRT version, on any GPU.

        TensorRT rejects a calibration cache written by another version, so an
        upgrade gets a new file (and calibrates again) instead of a failed build.
        """
        name = f"{self.onnx_path.stem}_{self.input_height}x{self.input_width}"
        version = slug(self.tensorrt_version)
        return self.cache_dir / f"{name}_trt{version}_{self.onnx_sha256[:12]}.calib"


@functools.cache
def trt_logger() -> Any:
    """The process's one TensorRT logger: warnings and errors to stderr, errors kept."""
    from fanet_ros.tensorrt.logger import RecordingLogger

    return RecordingLogger()


def start_tensorrt(factory: Callable[[Any], T]) -> T:
    """``factory(trt_logger())`` for ``trt.Runtime`` or ``trt.Builder``; a
    :class:`ModelLoadError` with what to do when TensorRT cannot start CUDA.

    There the binding raises ``TypeError`` ("factory function returned nullptr")
    after logging the CUDA error, e.g. a pip TensorRT for CUDA 13 on an older driver.
    """
    logger = trt_logger()
    logger.take_errors()
    try:
        made = factory(logger)
    except TypeError as exc:
        if "nullptr" not in str(exc):
            raise
        made = None
    if made is None:
        version = installed_tensorrt_version()[0] or "?"
        raise ModelLoadError(cuda_start_advice(version, logger.take_errors(),
                                               tensorrt_cuda_wheels()))
    return made
