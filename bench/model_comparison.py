"""Model comparison: every registry model on one table, on this machine, with one trainer.

Per model: deployed parameters at 19 classes (kernels + one bias per output channel,
BatchNorm folded: the papers' convention, fanet_training.models.parameter_count), GMACs at
512x1024 and 1024x2048 (bench/macs.py, 19 classes), ONNX Runtime CPU latency at ``--size``
with the network (image -> class logits at the model's own stride; random weights, speed
does not depend on them) and the head (those logits -> labels at the input size) timed
apart, CamVid val mIoU under one training budget, and the published Cityscapes figure.

The head is timed two ways: bilinear Resize + ArgMax to the input size in ONNX Runtime
(what a full-resolution export holds, any stride), and, for models whose classifier is at
stride 8, the node's exact boundary refinement (fanet_ros.label_upsampling).

The training budget (``--train-budget-epochs N`` with ``--camvid``) runs ``fanet-train`` for
every model with the same settings into ``--runs-dir`` (keep it outside the repository; an
existing run there resumes, so a budget can be raised later), then ``fanet-evaluate`` on
the val split, scored at the annotations' 360x480. Without it the mIoU column says so.

    nice -n 10 python -m bench.model_comparison
    nice -n 10 python -m bench.model_comparison --camvid /data/camvid --train-budget-epochs 2 \\
        --train-size 192x256 --runs-dir /tmp/fanet_budget_runs
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    CACHE_DIR,
    exporter_digest,
    format_size,
    machine_info,
    median_ms,
    module_command,
    parse_size,
    write_and_show,
)
from bench.macs import count_macs
from bench.model_table import resize_argmax_head, session
from bench.render_performance import model_comparison as render
from fanet_ros.label_upsampling import LOGITS_STRIDE, LogitsUpsampler

UNITS = {"*_ms": "milliseconds (median)",
         "gmacs_*": "10^9 multiply-accumulates (convolutions and dense layers)",
         "parameters": "deployed parameters at parameter_classes classes",
         "stride": "input pixels per logits pixel", "miou": "fraction of 1",
         "train_minutes": "minutes of the training epochs (wall clock)",
         "load_average_at_start": "1-, 5- and 15-minute load averages"}
WARMUP_EPOCHS = 0.5
BN_MOMENTUM = 0.9

PUBLISHED = {
    "fanet": ("65.9 % val mIoU (test 64.1 %), 1024x2048",
              "Singha, Pham, Krishna, FANet, DICTA 2020 (abstract, results table)"),
    "fsffnet": ("71.8 % val mIoU (test 69.4 %, fine + coarse)",
                "Singha, Pham, Krishna, FSFFNet / MsFFNet, ICONIP 2021 (results table)"),
    "fast_scnn": ("68.0 % test mIoU, 1024x2048, fine only",
                  "Poudel, Liwicki, Cipolla, Fast-SCNN, BMVC 2019 (abstract)"),
    "contextnet": ("66.1 % test mIoU (ContextNet-14), 1024x2048",
                   "Poudel, Bonde, Liwicki, Zach, ContextNet, BMVC 2018 (abstract)"),
    "espnet": ("88.5 % val pixel accuracy at 512x512 (no mIoU in the abstract)",
               "Singha, Pham, Krishna, Dunstan, ESPNet, ICONIP 2020 (abstract)"),
}
"""Published Cityscapes figure of each model and where it is printed."""
CITYSCAPES_CLASSES = 19
MAC_SIZES = ((512, 1024), (1024, 2048))


def size_row(name: str) -> dict[str, Any]:
    """Deployed parameters and GMACs per size at 19 classes, from the Keras model."""
    from fanet_training.models import build_model
    from fanet_training.models.parameter_count import deployed_parameters

    row: dict[str, Any] = {"model": name}
    for height, width in MAC_SIZES:
        model = build_model(name, CITYSCAPES_CLASSES, (height, width, 3),
                            output="low_res_logits")
        row["parameters"] = deployed_parameters(model)
        row["stride"] = height // int(model.output.shape[1])
        row[f"gmacs_{height}x{width}"] = count_macs(model) / 1e9
    return row


def network_model(name: str, size: tuple[int, int], classes: int) -> Path:
    """``name`` (random weights, seed 0) cut at its logits, as ONNX at ``size`` (cached)."""
    path = CACHE_DIR / (f"{name}_{classes}classes_{size[0]}x{size[1]}_own_stride_logits_"
                        f"{exporter_digest()}.onnx")
    if path.is_file():
        return path
    import keras

    from fanet_training.export import convert
    from fanet_training.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model(name, classes, (*size, 3), output="low_res_logits")
    print(f"converting {name} at {format_size(size)} to {path} ...", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        proto = convert(model, Path(tmp) / "model.onnx", dynamic=False)
    import onnx

    onnx.save(proto, str(path))
    return path


def latency_rows(names: list[str], size: tuple[int, int], classes: int,
                 iterations: int) -> dict[str, dict[str, Any]]:
    """Median ms per model of the network, of Resize + ArgMax to ``size``, and of the exact
    refinement (stride-8 models). The models take turns run by run, so a change in the
    machine's load hits them all alike."""
    image = np.random.default_rng(0).random((1, *size, 3), dtype=np.float32)
    head, upsampler = resize_argmax_head(), LogitsUpsampler()
    steps: dict[str, dict[str, Any]] = {}
    for name in names:
        network = session(str(network_model(name, size, classes)))
        feed = {network.get_inputs()[0].name: image}
        logits = network.run(None, feed)[0]
        sizes = np.array([1, logits.shape[-1], *size], np.int64)
        steps[name] = {
            "network_ms": lambda n=network, f=feed: n.run(None, f),
            "resize_argmax_ms": lambda lg=logits, sz=sizes: head.run(
                None, {"logits": lg, "sizes": sz}),
        }
        if size[0] // logits.shape[1] == LOGITS_STRIDE:
            steps[name]["refine_ms"] = lambda lg=logits: upsampler.labels(lg[0], size)
    times: dict[str, dict[str, list[float]]] = {n: {k: [] for k in s} for n, s in steps.items()}
    for _ in range(max(1, iterations)):
        for name, measured in steps.items():
            for key, step in measured.items():
                times[name][key].append(median_ms(step, 1, warmup=0 if times[name][key] else 1))
    rows = {}
    for name in names:
        rows[name] = {"network_ms": None, "resize_argmax_ms": None, "refine_ms": None}
        rows[name].update({k: float(np.median(v)) for k, v in times[name].items()})
        print(f"{name}: network {rows[name]['network_ms']:.1f} ms", flush=True)
    return rows


def run_dir(args: argparse.Namespace, name: str) -> Path:
    height, width = args.train_size
    return args.runs_dir / f"{name}_camvid_{height}x{width}"


def train_command(args: argparse.Namespace, name: str) -> list[str]:
    """The budget: the same settings for every model (``--train-*`` options)."""
    height, width = args.train_size
    return [sys.executable, "-m", "fanet_training.train", "--model", name,
            "--dataset-root", str(args.camvid), "--layout", "camvid",
            "--run-dir", str(run_dir(args, name)), "--height", str(height), "--width", str(width),
            "--batch-size", str(args.batch_size), "--epochs", str(args.train_budget_epochs),
            "--optimizer", "adam", "--learning-rate", str(args.learning_rate),
            "--warmup-epochs", str(WARMUP_EPOCHS), "--bn-momentum", str(BN_MOMENTUM), "--val-every",
            str(args.train_budget_epochs), "--seed", "0", "--cache", "--verbose", "2",
            # the recorded budget's recipe (fanet-train's defaults before 2026-12-04), the same
            # for models with and without branches for deep supervision
            "--augment", "legacy", "--aux-loss-weight", "0", "--class-weighting", "none",
            "--copy-paste", "0", "--weight-decay", "0"]


def budget_row(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """Train ``name`` under the budget (resuming a run there), then score val with
    fanet-evaluate; a run that fails is reported, not fatal."""
    folder = run_dir(args, name)
    command = train_command(args, name)
    print("$ " + " ".join(command[2:]), flush=True)
    done = subprocess.run(command, check=False).returncode == 0
    evaluation = folder / "eval"
    if done:
        done = subprocess.run(
            [sys.executable, "-m", "fanet_training.evaluate", str(folder), "--dataset-root",
             str(args.camvid), "--split", "val", "--output-dir", str(evaluation)],
            check=False).returncode == 0
    if not done:
        return {"miou": None, "note": f"training or evaluation failed (see {folder})"}
    metrics = json.loads((evaluation / "metrics.json").read_text())
    state = json.loads((folder / "state.json").read_text())
    seconds = sum(epoch.get("seconds", 0.0) for epoch in state.get("history", []))
    return {"miou": metrics["mean_iou"], "epochs": state["epoch"],
            "train_minutes": seconds / 60.0, "run_dir": folder.name}


def budget(args: argparse.Namespace) -> dict[str, Any]:
    """The training budget every model gets (what :func:`train_command` passes)."""
    return {"epochs": args.train_budget_epochs, "train_size": format_size(args.train_size),
            "batch_size": args.batch_size, "optimizer": "adam",
            "learning_rate": args.learning_rate, "warmup_epochs": WARMUP_EPOCHS,
            "schedule": "poly", "bn_momentum": BN_MOMENTUM, "pretrained": False,
            "augment": "legacy", "aux_loss_weight": 0.0, "class_weighting": "none",
            "copy_paste": 0.0, "weight_decay": 0.0, "scored_at": "360x480"}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", help="registry names (default: all)")
    parser.add_argument("--size", default="512x1024", help="latency input size, HxW")
    parser.add_argument("--iterations", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--camvid", type=Path, help="CamVid root, for the training budget")
    parser.add_argument("--train-budget-epochs", type=int, default=0,
                        help="train every model this many epochs (0: no training)")
    parser.add_argument("--train-size", default="192x256", help="training size, HxW (x32)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=0.002)
    parser.add_argument("--runs-dir", type=Path, default=Path("/tmp/fanet_model_comparison"),
                        help="run folders of the budget (outside the repository)")
    parser.add_argument("--name", default="model_comparison", help="results file name")
    parser.add_argument("--results-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    args.size, args.train_size = parse_size(args.size), parse_size(args.train_size)
    if args.train_budget_epochs and not args.camvid:
        parser.error("--train-budget-epochs needs --camvid")

    import onnxruntime

    from fanet_ros.dataset_layouts import label_set_for_layout
    from fanet_training.models import MODELS

    classes = label_set_for_layout("camvid").num_classes
    info = machine_info()
    data: dict[str, Any] = {
        "benchmark": "model_comparison",
        "command": module_command("bench.model_comparison", argv),
        "load_average_at_start": info["load_average_1_5_15"],
        "onnxruntime": onnxruntime.__version__,
        "size": format_size(args.size), "iterations": args.iterations, "classes": classes,
        "weights": "random", "parameter_classes": CITYSCAPES_CLASSES,
        "budget": budget(args) if args.train_budget_epochs else None, "models": [],
    }
    names = args.models or sorted(MODELS)
    latencies = latency_rows(names, args.size, classes, args.iterations)
    for name in names:
        row = size_row(name)
        row.update(latencies[name])
        row["published"], row["source"] = PUBLISHED.get(name, ("-", "-"))
        if args.train_budget_epochs:
            row["budget"] = budget_row(args, name)
        data["models"].append(row)
    write_and_show(args.name, data, args.results_dir, UNITS, render)
    return data


if __name__ == "__main__":
    main()
