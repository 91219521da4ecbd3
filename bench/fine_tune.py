"""Fine-tuning from shipped weights vs training from scratch, on generated street scenes.

Writes a small synthetic CamVid-layout dataset (``fanet_ros.synthetic``), then runs
``fanet-train`` twice with the same options for ``--epochs`` epochs: once with
``--init-from`` (default: the shipped ``fanet_camvid``), once from scratch. Prints
val mIoU after each epoch for both and writes ``bench/results/fine_tune.json``.

    python bench/fine_tune.py
    python bench/fine_tune.py --init-from fanet_camvid --train 96 --val 32 --epochs 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import markdown_table, write_results  # noqa: E402

from fanet_ros.synthetic.dataset import write_dataset  # noqa: E402
from fanet_training.train import TrainConfig, train  # noqa: E402


def run(root: Path, run_dir: Path, args: argparse.Namespace, init_from: str | None) -> dict:
    config = TrainConfig(
        model="fanet", dataset_root=str(root), layout="camvid", run_dir=str(run_dir),
        height=args.height, width=args.width, batch_size=8, epochs=args.epochs,
        optimizer="adam", learning_rate=args.learning_rate, end_learning_rate=1e-5,
        warmup_epochs=0.0, bn_momentum=0.9, workers=2, cache=True, seed=0, init_from=init_from,
        augment="legacy", aux_loss_weight=0.0, class_weighting="none")  # as recorded
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
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = write_dataset(Path(tmp) / "data", args.train, args.val, args.height, args.width,
                             seed=7)
        results = {"init_from": run(root, Path(tmp) / "init", args, args.init_from),
                   "scratch": run(root, Path(tmp) / "scratch", args, None)}
    rows = [[f"--init-from {args.init_from}" if name == "init_from" else "from scratch",
             *(None if v is None else 100 * v for v in r["val_miou"]), r["seconds"]]
            for name, r in results.items()]
    header = ["start", *(f"val mIoU % after epoch {e + 1}" for e in range(args.epochs)), "s"]
    table = markdown_table(header, rows)
    print(table)
    path = write_results("fine_tune", {"command": " ".join(["python", "bench/fine_tune.py",
                                                            *(argv or sys.argv[1:])]),
                                       "table": table, "results": results,
                                       "settings": vars(args)})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
