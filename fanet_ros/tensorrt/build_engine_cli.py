"""``ros2 run fanet_ros build_engine``: build (or validate) the cached TensorRT engine, then exit.

Builds exactly the engine the node would load with the same parameters, so a
fleet can be provisioned before the robots start.
"""

from __future__ import annotations

import argparse
import sys

from fanet_ros.runtime.base import ModelLoadError
from fanet_ros.tensorrt.availability import tensorrt_status
from fanet_ros.tensorrt.cli_common import add_engine_arguments, engine_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_engine_arguments(parser)
    parser.add_argument("--force", action="store_true",
                        help="rebuild even if a valid cached engine exists")
    args = parser.parse_args(argv)
    usable, why = tensorrt_status(args.gpu_device)
    if not usable:
        print(f"build_engine: cannot build a TensorRT engine: {why}", file=sys.stderr)
        return 1
    from fanet_ros.tensorrt.engines import open_engine

    try:
        config = engine_config(args)
        _spec, _runtime, _engine, path = open_engine(config, print, force=args.force)
    except (ModelLoadError, ValueError) as exc:
        print(f"build_engine: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
