"""Peer row of ``bench.train_throughput``: Fast-SCNN (PyTorch, eager) training steps.

Runs by its path under any interpreter that has torch (``--peer-python``; neither this
repository nor its packages need to be importable there); prints one JSON line
``{"images_per_s": ..., "torch": ...}``. Batches are random images in memory (the
loader is not part of the peer's figure), SGD momentum 0.9, cross-entropy ignoring 255.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path


def load_fast_scnn(peer_root: Path) -> type:
    """``FastSCNN`` from ``models/fast_scnn.py`` under ``peer_root``, loaded from its file."""
    spec = importlib.util.spec_from_file_location("peer_fast_scnn",
                                                  peer_root / "models" / "fast_scnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FastSCNN


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--peer-root", required=True,
                        help="folder holding models/fast_scnn.py (Tramac's Fast-SCNN-pytorch)")
    parser.add_argument("--height", type=int, default=384)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--classes", type=int, default=11)
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print("torch is not installed in this interpreter (give --peer-python)", file=sys.stderr)
        return 2
    if not (Path(args.peer_root) / "models" / "fast_scnn.py").is_file():
        print(f"no models/fast_scnn.py under '{args.peer_root}'", file=sys.stderr)
        return 2
    fast_scnn = load_fast_scnn(Path(args.peer_root).resolve())

    torch.manual_seed(0)
    model = fast_scnn(args.classes).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=255)
    images = torch.rand(args.batch_size, 3, args.height, args.width)
    labels = torch.randint(0, args.classes, (args.batch_size, args.height, args.width))
    times = []
    for step in range(args.steps + 2):  # two warm-up steps
        started = time.perf_counter()
        optimizer.zero_grad()
        loss = loss_fn(model(images)[0], labels)
        loss.backward()
        optimizer.step()
        if step >= 2:
            times.append(time.perf_counter() - started)
    step_s = statistics.median(times)
    print(json.dumps({"images_per_s": args.batch_size / step_s, "step_s": step_s,
                      "torch": torch.__version__}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
