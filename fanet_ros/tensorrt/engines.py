"""From a :class:`BackendConfig` to a loaded TensorRT engine, through the cache.

:class:`EngineSpec` (what to build, read from the ONNX file and the config)
and its cache key are plain Python; :func:`open_engine` is the one path by
which the node, ``build_engine`` and ``check_engine`` get an engine.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fanet_ros.model_metadata import ModelMetadata
from fanet_ros.runtime.base import ModelLoadError
from fanet_ros.runtime.onnxruntime_backend import load_session, model_input_size, resolve_input_size
from fanet_ros.runtime.select import BackendConfig
from fanet_ros.tensorrt.availability import tensorrt_version as installed_tensorrt_version
from fanet_ros.tensorrt.engine_cache import (
    EngineCache,
    EngineKey,
    EnvironmentFacts,
    default_cache_dir,
    file_sha256,
    load_or_build,
    slug,
)

CALIBRATION_IMAGE_LIMIT = 500
"""At most this many images of int8_calibration_dir are used (sorted by name)."""


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

    @classmethod
    def from_config(cls, config: BackendConfig, tensorrt_version: str | None = None) -> EngineSpec:
        """Validate the ONNX model (on ONNX Runtime, CPU) and resolve the input size.

        ``tensorrt_version`` defaults to the installed TensorRT's.
        """
        session, metadata = load_session(config.model_path)
        path = Path(config.model_path).expanduser()
        height, width = resolve_input_size(
            metadata, model_input_size(session), config.input_size, path
        )
        cache_dir = Path(config.engine_cache_dir).expanduser() if config.engine_cache_dir else (
            default_cache_dir()
        )
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
            tensorrt_version=tensorrt_version or installed_tensorrt_version()[0] or "none",
        )

    def key(self, environment: EnvironmentFacts, calibration: str = "") -> EngineKey:
        """``calibration``: the INT8 calibration cache's sha256 (empty for fp32 and fp16)."""
        return EngineKey(
            model_name=self.onnx_path.stem,
            onnx_sha256=self.onnx_sha256,
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


def environment_facts(gpu_device: int) -> EnvironmentFacts:
    import tensorrt as trt

    from fanet_ros.tensorrt.cuda_runtime import gpu_facts

    gpu = gpu_facts(gpu_device)
    return EnvironmentFacts(
        trt.__version__, gpu.name, gpu.compute_capability, gpu.multiprocessor_count,
        gpu.total_memory_mb,
    )


def open_engine(
    config: BackendConfig, log: Callable[[str], None], force: bool = False
) -> tuple[EngineSpec, Any, Any, Path]:
    """Select the GPU, then load the cached engine or build it: ``(spec, runtime, engine, path)``.

    Raises :class:`ModelLoadError` with the fix when the model, the cache
    folder or the build is at fault.
    """
    import tensorrt as trt

    from fanet_ros.tensorrt.builder import build_serialized_engine, strongly_typed_only
    from fanet_ros.tensorrt.cuda_runtime import CudaError, select_device

    try:
        select_device(config.gpu_device)  # before TensorRT creates anything on a GPU
    except CudaError as exc:
        raise ModelLoadError(f"cannot use CUDA device {config.gpu_device}: {exc}") from None
    spec = EngineSpec.from_config(config)
    runtime = trt.Runtime(trt_logger())
    cache = EngineCache(spec.cache_dir)
    environment = environment_facts(config.gpu_device)
    timing_cache = cache.timing_cache_path(environment)

    def build() -> bytes:
        return build_serialized_engine(spec, log, timing_cache)

    try:
        calibration = ""
        if spec.precision == "int8" and not strongly_typed_only():
            calibration, builder, force = _calibrate_if_needed(spec, cache, environment, build,
                                                               log, force)
        else:
            builder = build
        engine, path = load_or_build(
            cache,
            spec.key(environment, calibration),
            build=builder,
            deserialize=runtime.deserialize_cuda_engine,
            log=log,
            force=force,
        )
    except OSError as exc:
        raise ModelLoadError(
            f"cannot write TensorRT engines to '{spec.cache_dir}' ({exc.strerror or exc}); set "
            "engine_cache_dir to a writable folder"
        ) from None
    except RuntimeError as exc:
        raise ModelLoadError(str(exc)) from None
    return spec, runtime, engine, path


def _calibrate_if_needed(
    spec: EngineSpec,
    cache: EngineCache,
    environment: EnvironmentFacts,
    build: Callable[[], bytes],
    log: Callable[[str], None],
    force: bool,
) -> tuple[str, Callable[[], bytes], bool]:
    """INT8: ``(calibration identity, build, force)`` for :func:`load_or_build`.

    With a valid calibration cache nothing changes. Without one (deleted, or
    stale because ``int8_calibration_dir`` changed) the engine is built now,
    which calibrates, under a lock so that two processes calibrate once; the
    key then holds the new cache's sha256 and the fresh engine is stored.
    """
    from fanet_ros.tensorrt.calibration_identity import calibration_identity, record_source

    images = spec.calibration_images_digest()
    identity = calibration_identity(spec.calibration_cache_path, images, log)
    if identity:
        return identity, build, force
    with cache.build_lock(spec.key(environment, "calibrating"), log):
        identity = calibration_identity(spec.calibration_cache_path, images, log)
        if identity:  # another process calibrated while this one waited
            return identity, build, force
        serialized = build()
        if not spec.calibration_cache_path.is_file():
            raise ModelLoadError(
                f"INT8 calibration wrote no calibration cache {spec.calibration_cache_path}; "
                "TensorRT's log above says why. Use precision fp16, or check the images"
            )
        if images:
            record_source(spec.calibration_cache_path, images)
        return file_sha256(spec.calibration_cache_path), lambda: serialized, True
