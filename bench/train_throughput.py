"""Training throughput on this machine: the ``fanet-train`` loop, its validation, and a peer.

Rows, each measured on the real CamVid loader (cached, augmented, ``--workers``
threads) over ``--steps`` steps after one epoch of warm-up (tracing):

- ``before``: the loop as it was before the from-logits change, rebuilt here: softmax
  output, loss on probabilities, whole 384x512 frames, validation by eager
  ``model(x, training=False)`` calls after every epoch;
- ``fanet-train``: today's loop (``fanet_training.train.train``) on whole frames, and
  with ``--crop`` (the shipped run's crops), validation through the compiled predict;
- ``peer``: Fast-SCNN (PyTorch, eager, SGD + cross-entropy) on the same batch size and
  size, run by ``bench/peer_fast_scnn_train.py`` (by its path) under ``--peer-python`` when that
  interpreter has torch; skipped with the reason otherwise.

Variants (the peer too) alternate over ``--rounds`` so a drifting machine load hits each
alike; figures are medians. ``fanet-train`` validates after both short epochs: the first
includes tracing the predict function, the second is the steady cost that repeats.
Validation share = steady validation / ``--val-every`` / (one full epoch + that).

    python -m bench.train_throughput --dataset-root ../shared/data/camvid --layout camvid
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import keras

from bench.common import BENCH_DIR, module_command, write_and_show
from bench.render_performance import train_throughput as render
from fanet_ros.metrics import ConfusionMatrix
from fanet_training.data import DataConfig, SegmentationDataset
from fanet_training.losses import SegmentationCrossEntropy
from fanet_training.models import build_model
from fanet_training.train import TrainConfig, train

PEER_SCRIPT = BENCH_DIR / "peer_fast_scnn_train.py"
"""Run by its path under ``--peer-python`` (an interpreter with torch, maybe without this
repository's packages): it imports nothing from them."""
UNITS = {"images_per_s": "training images per second", "*_s": "seconds",
         "validation_share": "fraction of 1 of the time", "validation_every": "epochs",
         "epoch_steps": "steps per training epoch"}


class StepTimer(keras.callbacks.Callback):
    """Seconds per training step in the last epoch (the first one traces the step)."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[float] = []
        self._last = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.steps = []
        self._last = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        now = time.perf_counter()
        self.steps.append(now - self._last)
        self._last = now


class EagerValidation(keras.callbacks.Callback):
    """The validation of the loop before: one eager call per batch, probabilities arg-max."""

    def __init__(self, dataset: SegmentationDataset) -> None:
        super().__init__()
        self.dataset = dataset
        self.seconds = 0.0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        started = time.perf_counter()
        label_set = self.dataset.label_set
        matrix = ConfusionMatrix(label_set.num_classes, label_set.ignore_label)
        for index in range(len(self.dataset)):
            images, labels = self.dataset[index]
            probabilities = keras.ops.convert_to_numpy(self.model(images, training=False))
            matrix.update(labels, probabilities.argmax(axis=-1))
        self.seconds = time.perf_counter() - started


def warm_cache(dataset: SegmentationDataset) -> None:
    for index in range(len(dataset)):
        dataset[index]


def before_loop(args: argparse.Namespace, train_data: SegmentationDataset,
                val_data: SegmentationDataset) -> dict[str, float]:
    """The pre-change loop: softmax model, loss on probabilities, eager validation."""
    model = build_model("fanet", train_data.label_set.num_classes,
                        (args.height, args.width, 3), output="probabilities")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=SegmentationCrossEntropy())
    timer, validation = StepTimer(), EagerValidation(val_data)
    model.fit(train_data, epochs=2, steps_per_epoch=args.steps, callbacks=[timer, validation],
              verbose=0)
    return {"step_s": statistics.median(timer.steps), "val_s": validation.seconds}


def fanet_train_loop(args: argparse.Namespace, crop: tuple[int, int] | None) -> dict[str, float]:
    """``fanet_training.train.train`` for 2 short epochs, validating after each."""
    with tempfile.TemporaryDirectory() as run_dir:
        config = TrainConfig(
            model="fanet", dataset_root=args.dataset_root, layout=args.layout, run_dir=run_dir,
            height=args.height, width=args.width, batch_size=args.batch_size, epochs=2,
            optimizer="adam", learning_rate=1e-3, warmup_epochs=0.0, workers=args.workers,
            cache=True, steps_per_epoch=args.steps, val_every=1, augment="legacy",
            aux_loss_weight=0.0, class_weighting="none", copy_paste=0.0,
            weight_decay=0.0,  # the loop the results recorded
            crop_height=crop[0] if crop else None, crop_width=crop[1] if crop else None)
        timer = StepTimer()
        state = train(config, extra_callbacks=[timer], verbose=0)
    return {"step_s": statistics.median(timer.steps),
            "val_s": float(state["history"][-1]["val_seconds"]),
            "first_val_s": float(state["history"][0]["val_seconds"])}


def peer_row(args: argparse.Namespace) -> dict[str, Any]:
    command = [args.peer_python, str(PEER_SCRIPT), "--peer-root", args.peer_root,
               "--height", str(args.height), "--width", str(args.width),
               "--batch-size", str(args.batch_size), "--steps", str(args.steps)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["failed"])[-1]
        return {"skipped": reason}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset-root", default="../shared/data/camvid")
    parser.add_argument("--layout", default="camvid")
    parser.add_argument("--height", type=int, default=384)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--crop", default="288x384", help="crop HxW of the crop row")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per variant and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--val-every", type=int, default=5,
                        help="validation cadence for the share (the shipped recipe's)")
    parser.add_argument("--peer-python", default=sys.executable,
                        help="interpreter with torch for the Fast-SCNN peer row")
    parser.add_argument("--peer-root", default="../shared/third_party/fast_scnn_pytorch")
    parser.add_argument("--name", default="train_throughput")
    parser.add_argument("--results-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    crop = tuple(int(v) for v in args.crop.lower().split("x"))
    data = DataConfig(args.dataset_root, args.layout, args.height, args.width, args.batch_size,
                      args.workers, cache=True)
    train_data = SegmentationDataset(data, "train", training=True)
    val_data = SegmentationDataset(data, "val", training=False)
    warm_cache(val_data)
    epoch_steps = len(train_data)
    variants = {
        "before (softmax + loss on probabilities, eager validation)":
            lambda: before_loop(args, train_data, val_data),
        f"fanet-train, whole {args.height}x{args.width} frames":
            lambda: fanet_train_loop(args, None),
        f"fanet-train, {crop[0]}x{crop[1]} crops": lambda: fanet_train_loop(args, crop),
    }
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    peers: list[dict[str, Any]] = []
    for round_index in range(args.rounds):
        for name, run in variants.items():
            samples[name].append(run())
            print(f"round {round_index + 1}: {name}: {samples[name][-1]}", flush=True)
        peers.append(peer_row(args))
        print(f"round {round_index + 1}: peer: {peers[-1]}", flush=True)
    results = {}
    for name, runs in samples.items():
        step = statistics.median(r["step_s"] for r in runs)
        val = statistics.median(r["val_s"] for r in runs)
        every = 1 if name.startswith("before") else args.val_every
        epoch = step * epoch_steps
        results[name] = {"images_per_s": args.batch_size / step, "step_s": step,
                         "validation_s": val, "validation_every": every, "epoch_s": epoch,
                         "validation_share": val / every / (epoch + val / every)}
        if "first_val_s" in runs[0]:
            results[name]["first_validation_s"] = statistics.median(
                r["first_val_s"] for r in runs)
    measured = [p for p in peers if "images_per_s" in p]
    peer = ({**measured[0], "images_per_s": statistics.median(p["images_per_s"] for p in measured)}
            if measured else peers[0])
    if "images_per_s" in peer:
        peer["epoch_s"] = epoch_steps * args.batch_size / peer["images_per_s"]
    results["peer"] = peer
    if "skipped" in peer:
        print(f"peer row skipped: {peer['skipped']}")
    shown = ["PYTHON_WITH_TORCH" if a == args.peer_python else a
             for a in (sys.argv[1:] if argv is None else argv)]
    settings = {k: Path(v).name if isinstance(v, str) and v.startswith("/") else v
                for k, v in vars(args).items() if k != "results_dir"}  # no machine's folders
    settings["peer_python"] = "PYTHON_WITH_TORCH"
    record = {"benchmark": "train_throughput",
              "command": module_command("bench.train_throughput", shown),
              "epoch_steps": epoch_steps, "results": results, "settings": settings}
    write_and_show(args.name, record, args.results_dir, UNITS, render)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
