"""Models shipped inside the package (``fanet_ros/models/*.onnx``), their names, and the one
resolver from a model argument to a file (:func:`resolve_model`: the node, ``Segmenter`` and
the launch files all go through it)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DEFAULT_MODEL = "fanet"
DEFAULT_DATASET = "camvid"


class ModelLoadError(RuntimeError):
    """A model (or engine) could not be loaded; the message names the file and the fix."""


class EngineBuildInterrupted(ModelLoadError):
    """SIGINT or SIGTERM arrived during a TensorRT engine build, and TensorRT cancelled it
    (:mod:`fanet_ros.tensorrt.builder`): a shutdown, so ``backend: auto`` does not fall back."""


def models_dir() -> Path:
    """The folder that holds the shipped ONNX models and their model cards."""
    return Path(str(resources.files("fanet_ros") / "models"))


def shipped_model_path(model: str = DEFAULT_MODEL, dataset: str = DEFAULT_DATASET) -> Path:
    """Path of the shipped ``{model}_{dataset}.onnx`` (it may not exist for every pair)."""
    return models_dir() / f"{model}_{dataset}.onnx"


def available_shipped_models() -> list[Path]:
    folder = models_dir()
    return sorted(folder.glob("*.onnx")) if folder.is_dir() else []


def shipped_model_names() -> list[str]:
    """``{model}_{dataset}`` of every shipped model, e.g. ``fanet_camvid``."""
    return [path.stem for path in available_shipped_models()]


def shipped_pairs() -> list[tuple[str, str]]:
    """``(model, dataset)`` of every shipped model."""
    return [tuple(name.split("_", 1)) for name in shipped_model_names() if "_" in name]  # type: ignore[misc]


def how_to_get_a_model() -> str:
    """What an error about a missing model suggests: the launch arguments of each model
    that ships (read from ``models_dir()``), or training and exporting one."""
    pairs = shipped_pairs()
    shipped = "; ".join(f"{m}_{d}: model:={m} dataset:={d}" for m, d in pairs)
    pick = (
        f"Use a shipped model (leave model_path empty for {DEFAULT_MODEL}_{DEFAULT_DATASET}, "
        f"or pick one with the launch arguments, {shipped}), or train"
        if pairs else "No model ships with this install: train"
    )
    return (f"{pick} and export your own with `fanet-train` and `fanet-export` "
            "(see the README, section Training).")


def resolve_model(model: str | Path | None) -> Path:
    """The model file for ``model``: ``None`` = the default shipped model, a shipped name
    (``fanet_camvid``, or its file name ``fanet_camvid.onnx`` where no such file is in the
    working directory) or a path. Existence is checked when the model loads."""
    if model is None or str(model) == "":
        return shipped_model_path()
    path = Path(model).expanduser()
    bare = "/" not in str(model)  # a name, not a path such as ./fanet_camvid.onnx
    name = path.stem if path.suffix == ".onnx" and bare else str(model)
    shipped = shipped_model_path(*name.split("_", 1)) if "_" in name and bare else None
    if path.exists() or not bare or (
            path.suffix == ".onnx" and not (shipped is not None and shipped.is_file())):
        return path
    if shipped is not None and shipped.is_file():
        return shipped
    raise ModelLoadError(
        f"model {str(model)!r} is neither a file nor a shipped model; shipped: "
        f"{', '.join(shipped_model_names()) or 'none'}"
    )
