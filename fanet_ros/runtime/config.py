"""What a backend is asked to load: :class:`BackendConfig`, the backend and precision names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BACKENDS = ("auto", "onnxruntime", "tensorrt")
PRECISIONS = ("fp32", "fp16", "int8")


ONE_SIDED_INPUT_SIZE = "set both input_height and input_width, or neither"


@dataclass(frozen=True)
class BackendConfig:
    """Everything needed to load a model on a backend."""

    model_path: Path
    backend: str = "auto"
    gpu_device: int = 0
    input_height: int = 0
    """0 = the size the model was exported at."""
    input_width: int = 0
    num_threads: int = 0
    """ONNX Runtime intra-op threads; 0 = its default."""
    precision: str = "fp16"
    """TensorRT engine precision."""
    engine_cache_dir: str = ""
    """Where TensorRT engines are cached; empty = ``~/.cache/fanet_ros/engines``."""
    workspace_mb: int = 1024
    int8_calibration_dir: str = ""

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}"
            )
        if bool(self.input_height) != bool(self.input_width):
            raise ValueError(f"{ONE_SIDED_INPUT_SIZE} (0 and 0: the size the model was "
                             f"exported at), not {self.input_height}x{self.input_width}")

    @property
    def input_size(self) -> tuple[int, int] | None:
        if self.input_height or self.input_width:
            return (self.input_height, self.input_width)
        return None
