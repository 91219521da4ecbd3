"""Random-weight models exported to ONNX with ``fanet_training.export``, cached outside the repo.

Timing does not depend on the weights, so the benchmarks need no trained
model: a freshly initialised one (fixed seed) is saved and exported at the
requested fixed size.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import CACHE_DIR, exporter_digest


def exported_model(
    name: str,
    size: tuple[int, int],
    layout: str = "camvid",
    labels: bool = False,
    cache_dir: Path = CACHE_DIR,
    head: str = "probabilities",
) -> Path:
    """ONNX file of registry model ``name`` at ``size`` (HxW) for ``layout``'s classes.

    ``head``: ``fanet-export --head`` (``logits``, ``probabilities`` or ``labels``);
    ``labels=True`` is the same as ``head="labels"``.
    """
    height, width = size
    head = "labels" if labels else head
    suffix = "" if head == "probabilities" else f"_{head}"
    path = cache_dir / f"{name}_{layout}_{height}x{width}{suffix}_{exporter_digest()}.onnx"
    if path.is_file():
        return path
    import keras

    from fanet_ros.dataset_layouts import label_set_for_layout
    from fanet_training.export import export
    from fanet_training.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model(name, label_set_for_layout(layout).num_classes, (height, width, 3))
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "random.weights.h5"
        model.save_weights(weights)
        print(f"exporting {name} ({layout}) at {height}x{width} to {path} ...", flush=True)
        export(weights, name, layout, path, height, width, head=head)
    return path
