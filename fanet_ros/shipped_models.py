"""Models shipped inside the package (``fanet_ros/models/*.onnx``) and their names."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

MODEL_NAMES = ("fanet", "fsffnet")
DEFAULT_MODEL = "fanet"
DEFAULT_DATASET = "camvid"


def models_dir() -> Path:
    """The folder that holds the shipped ONNX models and their model cards."""
    return Path(str(resources.files("fanet_ros") / "models"))


def shipped_model_path(model: str = DEFAULT_MODEL, dataset: str = DEFAULT_DATASET) -> Path:
    """Path of the shipped ``{model}_{dataset}.onnx`` (it may not exist for every pair)."""
    return models_dir() / f"{model}_{dataset}.onnx"


def available_shipped_models() -> list[Path]:
    folder = models_dir()
    return sorted(folder.glob("*.onnx")) if folder.is_dir() else []
