"""``ros2 run fanet_ros check_engine``: does the TensorRT engine agree with ONNX Runtime on the CPU?

Runs both on the same frames (a folder of images, or synthetic ones) and
reports label agreement, the largest probability difference and latency.
``--full`` runs the self-test instead (:mod:`fanet_ros.tensorrt.self_test`):
an fp32 engine and one of ``--precision``, and the node itself with
``backend:=tensorrt``, honouring the other engine options too.
Exit status: 0 agreement at or above the threshold, 1 below it, 2 could not run
(a missing model, TensorRT or GPU, or any error while running).
"""

from __future__ import annotations

import argparse
import sys

from fanet_ros.runtime.base import InferenceBackend, ModelLoadError
from fanet_ros.runtime.onnxruntime_backend import OnnxRuntimeBackend
from fanet_ros.runtime.select import create_backend
from fanet_ros.tensorrt.calibration_data import ImageFolderError
from fanet_ros.tensorrt.check import (
    DEFAULT_MIN_AGREEMENT,
    IncomparableBackends,
    compare_backends,
    folder_frames,
    synthetic_frames,
)
from fanet_ros.tensorrt.cli_common import add_engine_arguments, engine_config


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_engine_arguments(parser)
    parser.add_argument("--images", default="",
                        help="folder of test images (default: synthetic frames)")
    parser.add_argument("--frames", type=int, default=50,
                        help="number of frames (the first N images of --images)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs before measuring")
    parser.add_argument("--min-agreement", type=float, default=None,
                        help="pass threshold in %% of pixels (default: "
                             + ", ".join(f"{p} {v}" for p, v in DEFAULT_MIN_AGREEMENT.items())
                             + ")")
    parser.add_argument("--candidate-model", default=None, type=str,
                        help="compare with this ONNX model on ONNX Runtime instead of the "
                             "TensorRT engine (e.g. a re-exported model)")
    parser.add_argument("--full", action="store_true",
                        help="self-test: build an fp32 engine and one of --precision (in a "
                             "fresh folder unless --engine-cache-dir is given), compare each "
                             "with ONNX Runtime, "
                             "then run segmentation_node with backend:=tensorrt through real "
                             "topics; prints one table")
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="--full: how long the node is fed frames")
    args = parser.parse_args(argv)
    if args.frames < 1:
        parser.error("--frames must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.full:
        from fanet_ros.shipped_models import shipped_model_path
        from fanet_ros.tensorrt.self_test import EngineOptions, run_self_test

        options = EngineOptions(
            precision=args.precision, images=args.images, min_agreement=args.min_agreement,
            input_height=args.input_height, input_width=args.input_width,
            workspace_mb=args.workspace_mb, calibration_dir=args.calibration_dir,
        )
        return run_self_test(args.model or shipped_model_path(), args.gpu_device,
                             args.engine_cache_dir, args.frames, args.seconds, options=options)
    threshold = args.min_agreement
    if threshold is None:
        threshold = DEFAULT_MIN_AGREEMENT[args.precision]
    candidate: InferenceBackend | None = None
    reference: InferenceBackend | None = None
    try:
        config = engine_config(args)
        reference = OnnxRuntimeBackend(config.model_path, gpu_device=-1,
                                       input_size=config.input_size)
        if args.candidate_model:
            candidate = OnnxRuntimeBackend(args.candidate_model, gpu_device=-1,
                                           input_size=config.input_size)
        else:
            candidate = create_backend(config, log=print)
        frames = (
            folder_frames(args.images, args.frames) if args.images
            else synthetic_frames(args.frames, reference.input_height, reference.input_width)
        )
        result = compare_backends(reference, candidate, frames, warmup=args.warmup)
    except (ModelLoadError, ImageFolderError, IncomparableBackends, ValueError) as exc:
        print(f"check_engine: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a crash (CUDA, TensorRT) is "could not run", not "below"
        print(f"check_engine: could not run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    finally:
        for backend in (reference, candidate):
            if backend is not None:
                try:
                    backend.close()
                except Exception as exc:  # after a crash, closing may fail too
                    print(f"check_engine: closing {backend.name} failed: {exc}", file=sys.stderr)
    print(f"reference: {result.reference}\ncandidate: {result.candidate}")
    print(result.report())
    verdict = "PASS" if result.passed(threshold) else "FAIL"
    print(f"{verdict}: label agreement {result.agreement_percent:.3f} % "
          f"(threshold {threshold} %)")
    return 0 if result.passed(threshold) else 1


if __name__ == "__main__":
    sys.exit(main())
