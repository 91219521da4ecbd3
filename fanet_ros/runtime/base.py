"""The interface every inference backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from fanet_ros.label_upsampling import labels_from_logits
from fanet_ros.model_metadata import ModelMetadata

HOW_TO_GET_A_MODEL = (
    "Use a shipped model (leave model_path empty, or pick one with the launch "
    "argument model:=fanet|fsffnet), or train and export your own with "
    "`fanet-train` and `fanet-export` (see the README, section Training)."
)


class ModelLoadError(RuntimeError):
    """A model (or engine) could not be loaded; the message names the file and the fix."""


class InferenceBackend(ABC):
    """Runs one preprocessed frame through a model.

    Input: float32 ``[1, H, W, 3]`` (NHWC, RGB, normalised as the metadata
    says) at :attr:`input_height` x :attr:`input_width`. Output: the model's
    raw output, ``[1, H/8, W/8, C]`` logits, ``[1, H, W, C]`` probabilities or
    ``[1, H, W]`` uint8 labels, as ``metadata.output`` says;
    :func:`labels_from_output` turns any of them into labels.
    """

    name: str = "backend"

    def __init__(self, model_path: Path, metadata: ModelMetadata) -> None:
        self.model_path = Path(model_path)
        self.metadata = metadata
        self._height = metadata.input_height
        self._width = metadata.input_width
        self._device = "CPU"

    @property
    def input_height(self) -> int:
        return self._height

    @property
    def input_width(self) -> int:
        return self._width

    @property
    def device(self) -> str:
        """Where it runs, for logs and diagnostics (``CPU``, ``cuda:0 (NVIDIA ...)``)."""
        return self._device

    @abstractmethod
    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run one ``[1, H, W, 3]`` float32 batch; return the raw output."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release device memory and sessions."""

    def describe(self) -> str:
        return (
            f"{self.name} on {self.device}: {self.metadata.model}/{self.metadata.dataset} "
            f"{self.input_height}x{self.input_width}, {self.metadata.num_classes} classes, "
            f"output {self.metadata.output} ({self.model_path})"
        )


def labels_from_output(
    output: np.ndarray, kind: str, size: tuple[int, int] | None = None
) -> np.ndarray:
    """``[H, W]`` uint8 class ids from a backend's raw output for one frame.

    ``logits`` are upsampled exactly (:mod:`fanet_ros.label_upsampling`) to ``size``,
    by default the model's input size (8x the logits).
    """
    out = output[0] if output.ndim in (3, 4) and output.shape[0] == 1 else output
    if kind == "labels":
        return out.astype(np.uint8, copy=False)
    if kind == "logits":
        return labels_from_logits(out, size)
    return np.argmax(out, axis=-1).astype(np.uint8)


def check_model_file(path: str | Path) -> Path:
    """Return ``path`` if it is a readable file, else raise :class:`ModelLoadError`."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelLoadError(f"model file '{path}' does not exist. {HOW_TO_GET_A_MODEL}")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise ModelLoadError(f"model file '{path}' cannot be read ({exc.strerror}).") from None
    return path
