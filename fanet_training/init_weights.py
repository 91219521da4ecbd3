"""``fanet-train --init-from``: start from the shipped weights, a run folder or a weights file.

Weights are copied layer by layer by name where the shapes agree. A different
class count leaves the classifier (``classifier_conv``) at its fresh
initialisation; everything else is kept. What was not copied is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import onnx

from fanet_ros.model_metadata import metadata_of_proto
from fanet_ros.shipped_models import models_dir
from fanet_training import run_state

WEIGHTS_SUFFIX = ".weights.h5"


@dataclass(frozen=True)
class WeightsSource:
    """A Keras weights file and the architecture and class count it was saved with."""

    path: Path
    model: str
    num_classes: int


def resolve_weights_source(name_or_path: str) -> WeightsSource:
    """A shipped model name (``fanet_camvid``), a run folder, or a ``.weights.h5`` file whose
    folder is a run folder or that sits beside its exported ``.onnx``."""
    path = Path(name_or_path)
    if not path.exists() and "/" not in name_or_path:
        path = models_dir() / f"{name_or_path}{WEIGHTS_SUFFIX}"
        if not path.is_file():
            shipped = sorted(p.name[: -len(WEIGHTS_SUFFIX)]
                             for p in models_dir().glob(f"*{WEIGHTS_SUFFIX}"))
            raise ValueError(f"--init-from {name_or_path!r}: no such file, and no shipped weights "
                             f"of that name (shipped: {', '.join(shipped) or 'none'})")
    if path.is_dir():
        if not (path / run_state.CONFIG).is_file():
            raise ValueError(f"--init-from '{path}': a folder, but not a fanet-train run folder "
                             f"(no {run_state.CONFIG})")
        path = path / run_state.BEST
    if not path.is_file():
        raise ValueError(f"--init-from '{path}': no such weights file")
    config_path = path.parent / run_state.CONFIG
    onnx_path = path.with_name(path.name[: -len(WEIGHTS_SUFFIX)] + ".onnx")
    if path.name.endswith(WEIGHTS_SUFFIX) and onnx_path.is_file():
        metadata = metadata_of_proto(onnx.load(str(onnx_path), load_external_data=False),
                                     onnx_path)
        return WeightsSource(path, metadata.model, metadata.num_classes)
    if config_path.is_file():
        config = run_state.read_json(config_path)
        return WeightsSource(path, config["model"],
                             run_state.run_label_set(path.parent, config["layout"]).num_classes)
    raise ValueError(f"--init-from '{path}': cannot tell its model and class count; give a run "
                     f"folder, or keep the weights beside the .onnx exported from them")


def init_from(model: keras.Model, source: WeightsSource, build) -> list[str]:
    """Copy ``source``'s weights into ``model`` by layer name; returns the layers left as built.

    ``build(name, num_classes)`` builds the source architecture (any input size).
    """
    donor = build(source.model, source.num_classes)
    donor.load_weights(source.path)
    donor_layers = {layer.name: layer for layer in donor.layers}
    skipped = []
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        other = donor_layers.get(layer.name)
        theirs = other.get_weights() if other is not None else []
        if len(theirs) == len(weights) and all(a.shape == b.shape
                                               for a, b in zip(weights, theirs)):
            layer.set_weights(theirs)
        else:
            skipped.append(layer.name)
    return skipped
