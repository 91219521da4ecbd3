"""The interface every inference backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fanet_ros.label_upsampling import labels_from_logits
from fanet_ros.model_metadata import ModelMetadata

# ModelLoadError lives beside the model resolver, which raises it too; backends import it here.
from fanet_ros.shipped_models import ModelLoadError, how_to_get_a_model

HOW_TO_GET_A_MODEL = how_to_get_a_model()
"""The models that ship (fanet_ros.shipped_models) and how to pick them, or how to make one."""


class NonFiniteOutputError(RuntimeError):
    """The model's output for one frame holds NaN or infinite values (no labels from it)."""


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


@dataclass(frozen=True)
class OutputSpec:
    """What a model's output must look like for one ``ModelMetadata.output`` kind."""

    shape: Callable[[ModelMetadata, int, int], tuple[int, ...]]
    """Expected shape for the metadata and an ``H x W`` input."""
    dtype_kind: str
    """NumPy dtype kinds allowed: ``f`` float, ``ui`` integer."""
    meaning: str


OUTPUT_SPECS: dict[str, OutputSpec] = {
    "logits": OutputSpec(
        lambda meta, h, w: (1, h // 8, w // 8, meta.num_classes), "f",
        "float class logits [1, H/8, W/8, classes] at stride 8",
    ),
    "probabilities": OutputSpec(
        lambda meta, h, w: (1, h, w, meta.num_classes), "f",
        "float class scores [1, H, W, classes] at the input's size",
    ),
    "labels": OutputSpec(
        lambda meta, h, w: (1, h, w), "ui", "integer class ids [1, H, W] at the input's size"
    ),
}
"""One entry per output kind; a new kind adds one line here."""


def output_problems(
    output: np.ndarray, metadata: ModelMetadata, height: int, width: int
) -> list[str]:
    """How a model's output for one ``height x width`` frame contradicts its metadata."""
    spec = OUTPUT_SPECS[metadata.output]
    expected = spec.shape(metadata, height, width)
    shape = tuple(int(d) for d in output.shape)
    kind = f"output kind '{metadata.output}' ({spec.meaning})"
    if len(shape) != len(expected):
        return [f"the metadata says {kind}, i.e. shape {list(expected)}, but the model's output "
                f"has shape {list(shape)}"]
    problems = []
    if len(expected) == 4 and shape[3] != expected[3]:
        problems.append(
            f"the output has {shape[3]} channels but the metadata lists "
            f"{metadata.num_classes} classes ({metadata.dataset}: "
            f"{', '.join(metadata.class_names[:3])}, ...)"
        )
    if shape[1:3] != expected[1:3]:
        problems.append(
            f"the output is {shape[1]}x{shape[2]} (HxW) for a {height}x{width} input, but "
            f"{kind} means {expected[1]}x{expected[2]}"
        )
    if output.dtype.kind not in spec.dtype_kind:
        problems.append(f"the metadata says {kind}, but the output is {output.dtype}")
    return problems


def nonfinite_values(output: np.ndarray) -> str:
    """``""`` when a float output is all finite, else how many NaN / infinite values it holds.

    Cheap when all is well (one max and one min: NaN and inf carry through them); the values
    are counted only when those say so.
    """
    if output.dtype.kind != "f" or output.size == 0:
        return ""
    if np.isfinite(output.max()) and np.isfinite(output.min()):
        return ""
    nan, inf = int(np.isnan(output).sum()), int(np.isinf(output).sum())
    return f"{nan} NaN and {inf} infinite values among its {output.size}"


def check_output_against_metadata(backend: InferenceBackend) -> None:
    """Run one blank frame and raise :class:`ModelLoadError` if the output contradicts the
    metadata (class count, size, output kind), naming both figures, or is not finite."""
    height, width = backend.input_height, backend.input_width
    output = np.asarray(backend.infer(np.zeros((1, height, width, 3), np.float32)))
    problems = output_problems(output, backend.metadata, height, width)
    if problems:
        raise ModelLoadError(
            f"model '{backend.model_path}' does not match its metadata: "
            + "; ".join(problems)
            + ". The node would publish wrong labels. Export the model and its metadata "
            "together with `fanet-export`, or fix the metadata's class list / output kind."
        )
    bad = nonfinite_values(output)
    if bad:
        raise ModelLoadError(
            f"model '{backend.model_path}' outputs {bad} for a blank frame: its weights are "
            "broken (a training run whose loss became NaN?). Export a checkpoint from before "
            "that with `fanet-export`, or use a shipped model."
        )


def check_model_file(path: str | Path) -> Path:
    """Return ``path`` if it is a readable file, else raise :class:`ModelLoadError`."""
    path = Path(path).expanduser()
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.onnx"))[:5]
        hint = f" (it holds {', '.join(inside)})" if inside else " (no .onnx file in it)"
        raise ModelLoadError(
            f"model_path '{path}' is a folder, not a model file{hint}: give the path of "
            f"the .onnx file. {HOW_TO_GET_A_MODEL}"
        )
    if not path.is_file():
        raise ModelLoadError(f"model file '{path}' does not exist. {HOW_TO_GET_A_MODEL}")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise ModelLoadError(f"model file '{path}' cannot be read ({exc.strerror}).") from None
    return path
