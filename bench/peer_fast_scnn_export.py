"""The peer's ONNX for ``bench.model_table --peer-onnx``: Fast-SCNN (PyTorch) exported as is.

Runs by its path under any interpreter with torch and onnxscript (neither this repository nor
its packages need to be importable there), e.g.::

    PYTHON_WITH_TORCH bench/peer_fast_scnn_export.py \\
        --peer-root ../shared/third_party/fast_scnn_pytorch --output ../peer/fast_scnn_512x1024.onnx

The graph is the peer's inference forward, unchanged: NCHW float input at a fixed size,
its first output (the logits bilinearly resized to the input, ``[1, C, H, W]``), random
weights (timing and MACs only), exported by ``torch.onnx.export(..., dynamo=True)`` (the
legacy exporter fails on its adaptive pooling). Prints one JSON line with the parameters.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from peer_fast_scnn_train import load_fast_scnn  # the sibling script (run by path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-root", required=True,
                        help="folder holding models/fast_scnn.py (Tramac's Fast-SCNN-pytorch)")
    parser.add_argument("--output", type=Path, required=True, help="the .onnx to write")
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--classes", type=int, default=11)
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print("torch is not installed in this interpreter", file=sys.stderr)
        return 2
    if not (Path(args.peer_root) / "models" / "fast_scnn.py").is_file():
        print(f"no models/fast_scnn.py under '{args.peer_root}'", file=sys.stderr)
        return 2

    class FirstOutput(torch.nn.Module):
        """The peer's forward returns a tuple; its first element is the segmentation."""

        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return self.model(images)[0]

    torch.manual_seed(0)
    model = FirstOutput(load_fast_scnn(Path(args.peer_root).resolve())(args.classes)).eval()
    images = torch.rand(1, 3, args.height, args.width)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(model, (images,), str(args.output), dynamo=True,
                          input_names=["images"], output_names=["scores"])
    print(json.dumps({"onnx": str(args.output), "torch": torch.__version__,
                      "parameters": sum(p.numel() for p in model.parameters()),
                      "input": [1, 3, args.height, args.width]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
