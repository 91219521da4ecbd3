"""From a :class:`BackendConfig` to a loaded TensorRT engine, through the cache.

:class:`~fanet_ros.tensorrt.engine_spec.EngineSpec` (what to build, read from the ONNX file
and the config) and its cache key are plain Python; :func:`open_engine` is the one path by
which the node, ``build_engine`` and ``check_engine`` get an engine.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fanet_ros.runtime.base import ModelLoadError
from fanet_ros.runtime.config import BackendConfig
from fanet_ros.tensorrt.build_advice import out_of_memory, tensorrt_said
from fanet_ros.tensorrt.engine_cache import (
    EngineCache,
    EnvironmentFacts,
    file_sha256,
    load_or_build,
)
from fanet_ros.tensorrt.engine_spec import EngineSpec, start_tensorrt, trt_logger


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
    runtime = start_tensorrt(trt.Runtime)
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
            deserialize=lambda data: _deserialize(runtime, data),
            log=log,
            force=force,
        )
    except OSError as exc:
        raise ModelLoadError(
            f"cannot write TensorRT engines to '{spec.cache_dir}' ({exc.strerror or exc}); set "
            "engine_cache_dir to a writable folder"
        ) from None
    except ModelLoadError:
        raise  # says what to do already (EngineBuildError, EngineBuildInterrupted)
    except RuntimeError as exc:
        raise ModelLoadError(str(exc)) from None
    return spec, runtime, engine, path


def _deserialize(runtime: Any, data: bytes) -> Any:
    """The engine; ``RuntimeError`` with TensorRT's errors when it cannot be loaded, and
    :class:`ModelLoadError` when the GPU lacks the memory (a rebuild would not help)."""
    logger = trt_logger()
    logger.take_errors()
    engine = runtime.deserialize_cuda_engine(data)
    if engine is not None:
        return engine
    errors = logger.take_errors()
    if out_of_memory(errors):
        raise ModelLoadError(
            "the GPU has too little free memory to load the TensorRT engine: stop other GPU "
            "processes (nvidia-smi, or tegrastats on a Jetson, lists them) and start again, or "
            f"use backend onnxruntime. {tensorrt_said(errors)}")
    raise RuntimeError(tensorrt_said(errors))


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
