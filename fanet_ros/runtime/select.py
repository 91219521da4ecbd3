"""Backend selection: ``auto`` picks TensorRT when it can run, else ONNX Runtime."""

from __future__ import annotations

from collections.abc import Callable

from fanet_ros.runtime.base import (
    InferenceBackend,
    ModelLoadError,
    check_model_file,
    check_output_against_metadata,
)
from fanet_ros.runtime.config import BackendConfig
from fanet_ros.shipped_models import EngineBuildInterrupted


def choose_backend(requested: str, gpu_device: int = 0) -> tuple[str, str]:
    """Return ``(backend, why)`` for a requested backend name and CUDA device."""
    if requested == "onnxruntime":
        return "onnxruntime", "requested"
    from fanet_ros.tensorrt.availability import tensorrt_status

    usable, why = tensorrt_status(gpu_device)
    if requested == "tensorrt":
        if not usable:
            raise ModelLoadError(
                f"backend 'tensorrt' was requested but {why}. Install TensorRT (and "
                "cuda-python) on the GPU machine, or set backend to 'onnxruntime' or 'auto'."
            )
        return "tensorrt", "requested"
    if usable:
        return "tensorrt", f"auto: {why}"
    return "onnxruntime", f"auto: TensorRT not usable ({why})"


def create_backend(
    config: BackendConfig,
    log: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> InferenceBackend:
    """Load the model on the chosen backend and check it against its metadata with one
    blank frame; raises :class:`ModelLoadError` with the fix.

    With ``backend: auto``, a TensorRT engine that cannot be built or loaded
    (a parser or build error, out of GPU memory, a TensorRT without the
    requested precision...) falls back to ONNX Runtime with a ``warn`` saying
    why. ``backend: tensorrt`` raises instead.
    """
    choice, why = choose_backend(config.backend, config.gpu_device)
    report = log
    if choice != "tensorrt" and config.backend == "auto" and _tensorrt_installed():
        report = warn or log  # TensorRT is there but cannot run: the CPU is no one's plan
    if report is not None:
        report(f"backend: {choice} ({why})")
    if choice == "tensorrt":
        check_model_file(config.model_path)  # a missing model is no reason to fall back
        try:
            return _checked(_tensorrt_backend(config, log))
        except EngineBuildInterrupted:
            raise  # a shutdown was asked for: no fallback to load
        except Exception as exc:
            if config.backend != "auto":
                if isinstance(exc, ModelLoadError):
                    raise
                raise ModelLoadError(
                    f"TensorRT could not load '{config.model_path}': {type(exc).__name__}: {exc}"
                ) from exc
            (warn or log or (lambda _message: None))(
                f"backend: falling back to onnxruntime: TensorRT could not load the model "
                f"({type(exc).__name__}: {exc}). Set backend to 'onnxruntime' to skip TensorRT, "
                "or to 'tensorrt' to make this an error."
            )
    from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend

    return _checked(OnnxRuntimeBackend(
        config.model_path,
        gpu_device=config.gpu_device,
        input_size=config.input_size,
        num_threads=config.num_threads,
    ))


def _tensorrt_installed() -> bool:
    from fanet_ros.tensorrt.availability import tensorrt_version

    return tensorrt_version()[0] is not None


def _tensorrt_backend(
    config: BackendConfig, log: Callable[[str], None] | None
) -> InferenceBackend:
    from fanet_ros.runtime.tensorrt_backend import TensorRTBackend

    return TensorRTBackend.from_config(config, log=log)


def _checked(backend: InferenceBackend) -> InferenceBackend:
    """``backend`` once one blank frame's output agrees with its metadata; closed otherwise."""
    try:
        check_output_against_metadata(backend)
    except BaseException:
        backend.close()
        raise
    return backend
