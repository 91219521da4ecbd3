"""ONNX Runtime backend: CPU always, CUDA when the installed onnxruntime has it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from fanet_ros.model_metadata import ModelMetadata, metadata_from_props
from fanet_ros.runtime.base import (
    HOW_TO_GET_A_MODEL,
    InferenceBackend,
    ModelLoadError,
    check_model_file,
)

OPTIMIZATION_LEVELS = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
"""ONNX Runtime graph optimisation levels by name (bench/ort_tuning.py times each)."""


def session_options(
    num_threads: int = 0, allow_spinning: bool = False, optimization_level: str = "all"
) -> ort.SessionOptions:
    """The CPU session settings the node uses; each one is measured in bench/ort_tuning.py.

    ``num_threads``: intra-op threads, 0 = ONNX Runtime's default (one per core).
    ``allow_spinning``: let idle worker threads busy-wait after a run. Off by
    default: on a shared CPU the spinning threads slow inference and the steps
    after it. ``optimization_level``: a key of :data:`OPTIMIZATION_LEVELS`.
    """
    if optimization_level not in OPTIMIZATION_LEVELS:
        raise ValueError(f"optimization_level must be one of {', '.join(OPTIMIZATION_LEVELS)}, "
                         f"not {optimization_level!r}")
    options = ort.SessionOptions()
    options.graph_optimization_level = OPTIMIZATION_LEVELS[optimization_level]
    options.log_severity_level = 3
    options.add_session_config_entry(
        "session.intra_op.allow_spinning", "1" if allow_spinning else "0")
    if num_threads > 0:
        options.intra_op_num_threads = num_threads
    return options


def load_session(
    model_path: str | Path,
    providers: list | None = None,
    num_threads: int = 0,
    allow_spinning: bool = False,
    optimization_level: str = "all",
) -> tuple[ort.InferenceSession, ModelMetadata]:
    """Open an ONNX model and its fanet_ros metadata, with errors that name the file.

    The settings are :func:`session_options`'.
    """
    path = check_model_file(model_path)
    options = session_options(num_threads, allow_spinning, optimization_level)
    try:
        session = ort.InferenceSession(
            str(path), sess_options=options, providers=providers or ["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises several private exception types
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(
            f"model file '{path}' is not a loadable ONNX model ({first_line}). The file may "
            f"be truncated or corrupt: copy or export it again. {HOW_TO_GET_A_MODEL}"
        ) from None
    try:
        metadata = metadata_from_props(session.get_modelmeta().custom_metadata_map, path)
    except ValueError as exc:
        raise ModelLoadError(str(exc)) from None
    return session, metadata


def model_input_size(session: ort.InferenceSession, path: str | Path
                     ) -> tuple[int | None, int | None]:
    """Height and width of the NHWC input; ``None`` where the graph leaves it dynamic."""
    image = session.get_inputs()[0]
    shape = image.shape
    if len(shape) != 4 or shape[3] != 3:
        raise ModelLoadError(
            f"model file '{path}': expected an NHWC RGB input [1, H, W, 3] (the layout the "
            f"metadata declares), the model's input has shape {shape}; export it with "
            "`fanet-export`"
        )
    if isinstance(shape[0], int) and shape[0] > 1:
        raise ModelLoadError(
            f"model file '{path}': the model's input has a fixed batch of {shape[0]} ({shape}), "
            "but a camera frame is a batch of 1: export it with a batch of 1 or a dynamic "
            "batch (`fanet-export` does)"
        )
    if image.type != "tensor(float)":
        raise ModelLoadError(
            f"model file '{path}': the model's input is {image.type}, but frames are fed as "
            "float32 (tensor(float)): export it with float32 input and output (`fanet-export` "
            "does; for fp16 inference use the TensorRT backend with precision fp16)"
        )
    return tuple(d if isinstance(d, int) and d > 0 else None for d in shape[1:3])  # type: ignore[return-value]


def resolve_input_size(
    metadata: ModelMetadata,
    graph_size: tuple[int | None, int | None],
    requested: tuple[int, int] | None,
    model_path: Path,
) -> tuple[int, int]:
    """The input size to run at: the request if the model allows it, else the model's."""
    fixed = all(d is not None for d in graph_size)
    if fixed and tuple(graph_size) != (metadata.input_height, metadata.input_width):
        raise ModelLoadError(
            f"model '{model_path}' does not match its metadata: the graph's input is "
            f"{graph_size[0]}x{graph_size[1]} (HxW) but the metadata says "
            f"input_height x input_width = {metadata.input_height}x{metadata.input_width}. "
            "Export the model and its metadata together with `fanet-export`."
        )
    default = graph_size if fixed else (metadata.input_height, metadata.input_width)
    if not requested or requested == (0, 0):
        return default  # type: ignore[return-value]
    height, width = requested
    if fixed and (height, width) != tuple(graph_size):
        raise ModelLoadError(
            f"model '{model_path}' was exported for a fixed input of {graph_size[0]}x"
            f"{graph_size[1]} (HxW) and cannot run at {height}x{width}. Leave "
            "input_height/input_width at 0, or re-export it with dynamic height and width "
            f"(`fanet-export {model_path.name} --output NEW.onnx`; dynamic is the default)."
        )
    check_size_rule(height, width, metadata.size_multiple, model_path)
    return height, width


def check_size_rule(height: int, width: int, multiple: int, model_path: Path) -> None:
    """Raise :class:`ModelLoadError` unless both sides are positive multiples of ``multiple``
    (the model's total downsampling), naming the rule and the nearest allowed size."""
    if height > 0 and width > 0 and not height % multiple and not width % multiple:
        return

    def nearest(side: int) -> int:
        return max(multiple, round(side / multiple) * multiple)

    raise ModelLoadError(
        f"input size {height}x{width} (HxW) is not allowed for '{model_path}': both sides "
        f"must be positive multiples of {multiple} (the model downsamples by {multiple}); "
        f"the nearest allowed size is {nearest(height)}x{nearest(width)}"
    )


class OnnxRuntimeBackend(InferenceBackend):
    """Runs the ONNX model with ONNX Runtime."""

    name = "onnxruntime"

    def __init__(
        self,
        model_path: str | Path,
        gpu_device: int = -1,
        input_size: tuple[int, int] | None = None,
        num_threads: int = 0,
    ) -> None:
        providers: list = ["CPUExecutionProvider"]
        if gpu_device >= 0 and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": gpu_device}))
        session, metadata = load_session(model_path, providers, num_threads)
        super().__init__(Path(model_path), metadata)
        self.session = session
        self._height, self._width = resolve_input_size(
            metadata, model_input_size(session, self.model_path), input_size, self.model_path
        )
        self._input_name = session.get_inputs()[0].name
        self._output_names = [session.get_outputs()[0].name]
        if "CUDAExecutionProvider" in session.get_providers():
            self._device = f"cuda:{gpu_device} (onnxruntime CUDA execution provider)"

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(self._output_names, {self._input_name: batch})[0]

    def close(self) -> None:
        self.session = None  # type: ignore[assignment]
