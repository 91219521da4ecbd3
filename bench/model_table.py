"""Model table: parameters, GMACs and CPU latency of every model in the registry.

For each model: parameters; GMACs (bench/macs.py) at 512x1024 and
1024x2048 (``--mac-sizes``); ONNX Runtime CPU latency (median of N after one warm-up run) of a
random-weight export at each size; and Keras ``model(x, training=False)`` at
the same sizes as a reference. Large inputs are slow on a few cores: they get
``--iterations-large`` runs.

    python bench/model_table.py
    python bench/model_table.py --sizes 256x512 --iterations 5 --models fanet
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    format_size,
    machine_info,
    markdown_table,
    median_ms,
    parse_size,
    write_results,
)
from exported_models import exported_model  # noqa: E402
from macs import count_macs  # noqa: E402

MAC_SIZES = ("512x1024", "1024x2048")
LARGE_PIXELS = 1024 * 2048


def ort_latency_ms(model_path: Path, size: tuple[int, int], iterations: int) -> float:
    from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend

    backend = OnnxRuntimeBackend(model_path)
    batch = np.random.default_rng(0).random((1, *size, 3), dtype=np.float32)
    try:
        return median_ms(lambda: backend.infer(batch), iterations)
    finally:
        backend.close()


def keras_latency_ms(model: Any, size: tuple[int, int], iterations: int) -> float:
    import keras

    batch = keras.ops.convert_to_tensor(
        np.random.default_rng(0).random((1, *size, 3), dtype=np.float32))
    return median_ms(lambda: keras.ops.convert_to_numpy(model(batch, training=False)), iterations)


def measure_model(name: str, args: argparse.Namespace) -> dict[str, Any]:
    from fanet_ros.dataset_layouts import label_set_for_layout
    from fanet_training.models import build_model

    classes = label_set_for_layout(args.layout).num_classes
    row: dict[str, Any] = {"model": name, "classes": classes, "gmacs": {}, "onnxruntime_ms": {},
                           "keras_ms": {}, "iterations": {}}
    for size in sorted({*args.mac_sizes, *args.sizes}):
        model = build_model(name, classes, (*size, 3))
        row["parameters"] = model.count_params()
        key = format_size(size)
        if size in args.mac_sizes:
            row["gmacs"][key] = count_macs(model) / 1e9
        if size in args.sizes:
            n = args.iterations_large if size[0] * size[1] >= LARGE_PIXELS else args.iterations
            row["iterations"][key] = n
            path = exported_model(name, size, args.layout)
            row["onnxruntime_ms"][key] = ort_latency_ms(path, size, n)
            row["keras_ms"][key] = keras_latency_ms(model, size, n)
            print(f"{name} {key}: onnxruntime {row['onnxruntime_ms'][key]:.1f} ms, "
                  f"keras {row['keras_ms'][key]:.1f} ms (median of {n})", flush=True)
        del model
    return row


def report(rows: list[dict[str, Any]], sizes: list[tuple[int, int]],
           mac_sizes: list[tuple[int, int]]) -> str:
    keys = [format_size(s) for s in sizes]
    header = ["model", "parameters", *(f"GMACs {format_size(s)}" for s in mac_sizes)]
    header += [f"ORT ms {k}" for k in keys] + [f"Keras / ORT {k}" for k in keys]
    body = []
    for r in rows:
        ratios = [r["keras_ms"][k] / r["onnxruntime_ms"][k] for k in keys]
        body.append([r["model"], f"{r['parameters']:,}",
                     *(r["gmacs"].get(format_size(s)) for s in mac_sizes),
                     *(r["onnxruntime_ms"][k] for k in keys), *(f"{x:.2f}x" for x in ratios)])
    keras_rows = [[r["model"], *(r["keras_ms"][k] for k in keys)] for r in rows]
    return "\n\n".join([
        markdown_table(header, body),
        "Keras `model(x, training=False)` reference, ms",
        markdown_table(["model", *keys], keras_rows),
    ])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", help="registry names (default: all)")
    parser.add_argument("--sizes", nargs="+", default=["256x512", "512x1024", "1024x2048"])
    parser.add_argument("--mac-sizes", nargs="+", default=list(MAC_SIZES))
    parser.add_argument("--layout", default="cityscapes", help="dataset whose classes to use")
    parser.add_argument("--iterations", type=int, default=10, help="timed runs per size")
    parser.add_argument("--iterations-large", type=int, default=3,
                        help="timed runs at 1024x2048 and larger")
    parser.add_argument("--name", default="model_table", help="results file name")
    parser.add_argument("--results-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    args.sizes = [parse_size(s) for s in args.sizes]
    args.mac_sizes = [parse_size(s) for s in args.mac_sizes]

    from fanet_training.models import MODELS

    load_at_start = machine_info()["load_average_1_5_15"]
    rows = [measure_model(name, args) for name in (args.models or sorted(MODELS))]
    table = report(rows, args.sizes, args.mac_sizes)
    print(table)
    data = {
        "benchmark": "model_table",
        "command": " ".join(["python bench/model_table.py", *(argv or sys.argv[1:])]),
        "layout": args.layout,
        "load_average_at_start": load_at_start,
        "models": rows,
        "markdown": table,
    }
    kwargs = {"results_dir": args.results_dir} if args.results_dir else {}
    print(f"wrote {write_results(args.name, data, **kwargs)}")
    return data


if __name__ == "__main__":
    main()
