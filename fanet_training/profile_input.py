"""Input pipeline share of the training step time.

Times ``steps`` training steps fed by the real loader (augmentation, worker
threads) and the same number fed one batch already in memory; the pipeline's
share is the difference over the loader-fed time. Also prints the time one
thread takes to make one batch.

    python -m fanet_training.profile_input --dataset-root /data/camvid --layout camvid
"""

from __future__ import annotations

import argparse
import time

import keras
import numpy as np

from fanet_training.data import DataConfig, SegmentationDataset
from fanet_training.losses import SegmentationCrossEntropy
from fanet_training.models import MODELS, build_model


class _Repeat(keras.utils.PyDataset):
    def __init__(self, batch: tuple[np.ndarray, np.ndarray], length: int) -> None:
        super().__init__()
        self.batch, self.length = batch, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.batch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), default="fanet")
    parser.add_argument("--dataset-root", required=True)
    parser.add_argument("--layout", required=True)
    parser.add_argument("--height", type=int, default=384)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache", action="store_true")
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args(argv)
    config = DataConfig(args.dataset_root, args.layout, args.height, args.width,
                        args.batch_size, args.workers, args.cache)
    data = SegmentationDataset(config, "train", training=True)
    started = time.perf_counter()
    batch = data[0]
    one_batch = time.perf_counter() - started
    model = build_model(args.model, data.label_set.num_classes, (args.height, args.width, 3))
    model.compile(optimizer=keras.optimizers.SGD(1e-3, momentum=0.9),
                  loss=SegmentationCrossEntropy())
    steps = min(args.steps, len(data))
    model.fit(_Repeat(batch, 2), epochs=1, verbose=0)  # trace the step once
    timings = {}
    for name, source in (("in-memory batch", _Repeat(batch, steps)), ("loader", data)):
        started = time.perf_counter()
        model.fit(source, epochs=1, steps_per_epoch=steps, verbose=0)
        timings[name] = (time.perf_counter() - started) / steps
    share = max(0.0, timings["loader"] - timings["in-memory batch"]) / timings["loader"]
    print(f"one batch of {args.batch_size} from the loader (1 thread): {one_batch:.3f} s")
    print(f"step time fed from memory: {timings['in-memory batch']:.3f} s, "
          f"fed by the loader ({args.workers} workers): {timings['loader']:.3f} s")
    print(f"input pipeline share of the step time: {100 * share:.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
