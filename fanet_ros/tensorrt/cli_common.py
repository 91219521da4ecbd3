"""Command-line options shared by ``build_engine`` and ``check_engine``."""

from __future__ import annotations

import argparse
from pathlib import Path

from fanet_ros.runtime.config import PRECISIONS, BackendConfig
from fanet_ros.shipped_models import shipped_model_path


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that decide which engine is built (the node's parameters of the same name)."""
    parser.add_argument("--model", type=Path, default=None,
                        help="ONNX model exported by fanet-export (default: the shipped FANet "
                             "CamVid model)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp16")
    parser.add_argument("--input-height", type=int, default=0,
                        help="model input height, a multiple of 32 (0: the exported size)")
    parser.add_argument("--input-width", type=int, default=0,
                        help="model input width, a multiple of 32 (0: the exported size)")
    parser.add_argument("--gpu-device", type=int, default=0, help="CUDA device index")
    parser.add_argument("--engine-cache-dir", default="",
                        help="engine folder (default: ~/.cache/fanet_ros/engines)")
    parser.add_argument("--workspace-mb", type=int, default=1024,
                        help="TensorRT builder workspace limit in MiB")
    parser.add_argument("--calibration-dir", default="",
                        help="folder of images for INT8 calibration (precision int8)")


def engine_config(args: argparse.Namespace, backend: str = "tensorrt") -> BackendConfig:
    """The :class:`BackendConfig` the node would use with the same parameters."""
    return BackendConfig(
        model_path=args.model or shipped_model_path(),
        backend=backend,
        gpu_device=args.gpu_device,
        input_height=args.input_height,
        input_width=args.input_width,
        precision=args.precision,
        engine_cache_dir=args.engine_cache_dir,
        workspace_mb=args.workspace_mb,
        int8_calibration_dir=args.calibration_dir,
    )
