"""Fine-tuning from shipped weights vs training from scratch, on generated street scenes.

Writes a small synthetic CamVid-layout dataset (``fanet_ros.synthetic``), then runs
``fanet-train`` twice with the same options for ``--epochs`` epochs: once with
``--init-from`` (default: the shipped ``fanet_camvid``), once from scratch. Prints
val mIoU after each epoch for both and writes ``bench/results/fine_tune.json``.

    python -m bench.fine_tune
    python -m bench.fine_tune --init-from fanet_camvid --train 96 --val 32 --epochs 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.common import module_command, write_and_show
from bench.render_performance import fine_tune as render
from fanet_ros.synthetic.dataset import write_dataset
from fanet_training.train import TrainConfig, train

UNITS = {"val_miou": "fraction of 1, per epoch", "seconds": "s, wall clock of the run",
         "learning_rate": "peak learning rate",
         "height, width, train, val": "pixels, pixels, scenes, scenes"}


def run(root: Path, run_dir: Path, args: argparse.Namespace, init_from: str | None) -> dict:
    config = TrainConfig(
        model="fanet", dataset_root=str(root), layout="camvid", run_dir=str(run_dir),
        height=args.height, width=args.width, batch_size=8, epochs=args.epochs,
        optimizer="adam", learning_rate=args.learning_rate, end_learning_rate=1e-5,
        warmup_epochs=0.0, bn_momentum=0.9, workers=2, cache=True, seed=0, init_from=init_from,
        augment="legacy", aux_loss_weight=0.0, class_weighting="none", copy_paste=0.0,
        weight_decay=0.0)  # as recorded
    started = time.perf_counter()
    state = train(config, verbose=0)
    return {"val_miou": [h.get("val_miou") for h in state["history"]],
            "seconds": time.perf_counter() - started}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--init-from", default="fanet_camvid")
    parser.add_argument("--train", type=int, default=96, help="generated training scenes")
    parser.add_argument("--val", type=int, default=32, help="generated validation scenes")
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--results-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = write_dataset(Path(tmp) / "data", args.train, args.val, args.height, args.width,
                             seed=7)
        results = {"init_from": run(root, Path(tmp) / "init", args, args.init_from),
                   "scratch": run(root, Path(tmp) / "scratch", args, None)}
    data = {"benchmark": "fine_tune", "command": module_command("bench.fine_tune", argv),
            "results": results,
            "settings": {k: v for k, v in vars(args).items() if k != "results_dir"}}
    write_and_show("fine_tune", data, args.results_dir, UNITS, render)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
