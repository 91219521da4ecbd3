"""``python -m fanet_training.gpu_pack build OUT_DIR``: assemble an offline GPU training pack.

    python -m fanet_training.gpu_pack build OUT_DIR --dataset-root /data/camvid --layout camvid
    # offline, from wheels downloaded elsewhere:
    python -m fanet_training.gpu_pack build OUT_DIR --dataset-root /data/camvid --layout camvid \\
        --wheels /path/to/wheels --python-version 3.12

Wheels come from ``pip download`` for ``--python-version`` (default: this
Python) unless ``--wheels DIR`` or ``--wheels-from-installed`` is given. The
build fails (exit 1) when the folder would exceed ``--max-mib``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from fanet_ros.dataset_layouts import DatasetError
from fanet_training.gpu_pack import dataset, run_pack, sources, wheels

DEFAULT_MAX_MIB = 64.0
PACK_FILE = "pack.json"


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def git_commit() -> str | None:
    """The commit the shipped code comes from, when it is a git checkout."""
    try:
        result = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"],
                                capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None


def readme(pack: dict) -> str:
    counts = ", ".join(f"{n} {split}" for split, n in pack["dataset"]["splits"].items())
    wheel_names = ", ".join(w["file"] for w in pack["wheels"])
    return f"""# fanet_ros GPU training pack

Built {pack["built"]} from commit {pack["commit"] or "unknown"} for Python
{pack["python_version"]} ({pack["arch"]}).
Dataset: {counts} images from the `{pack["dataset"]["source_layout"]}` layout, re-encoded
(JPEG q{pack["dataset"]["jpeg_quality"]} images, PNG labels) in the
`{pack["dataset"]["layout"]}` layout under `data/`.
Wheels: {wheel_names}.

## Run (no internet needed)

The box needs Python {pack["python_version"]}, NumPy, OpenCV (`opencv-python-headless`) and JAX
(preferred) or PyTorch with CUDA; Keras and its small dependencies come from `wheels/`.

```bash
./run.sh OUTPUT                     # FANet and FSFFNet, 100 epochs, batch 16, 384x512
./run.sh OUTPUT --models fsffnet --epochs 150 --batch-size 16
./run.sh OUTPUT --backend torch -- --learning-rate 0.003   # after --: more fanet-train flags
./run.sh --help
```

Measured on an NVIDIA H200 (2026-12-04, four stages side by side): FANet 4-5 s per epoch of
CamVid train+val, FSFFNet 39-44 s, so 100 epochs are about 8 min for FANet and over an hour
for FSFFNet: check the seconds per epoch in `OUTPUT/logs/<model>.log` during the first
minutes and start again in a new OUTPUT with fewer `--epochs` if needed (`--epochs` shapes
the learning-rate schedule). Within a session's short device commands use
`scripts/gpu_campaign.py` instead: it stops at a deadline and returns resumable runs.

`OUTPUT/runs/<model>/` is a `fanet-train` run folder (weights, `state.json` with the
per-epoch history, `learning_curve.csv`/`.png`, `eval/metrics.json`), `OUTPUT/logs/` the
logs, `OUTPUT/summary.json` the results. Re-running the same command resumes after the last
finished epoch. An error naming a missing module exits with code 3.

## Afterwards: export to ONNX

On any machine with `pip install fanet_ros[training]` (TensorFlow backend), copy
`OUTPUT/runs/<model>` back and run, e.g.:

```bash
fanet-export OUTPUT/runs/fanet --labels --output fanet_camvid.onnx   # flags: fanet-export --help
fanet-evaluate OUTPUT/runs/fanet --dataset-root /data/camvid \\
    --layout {pack["dataset"]["source_layout"]} --output-dir OUTPUT/runs/fanet/eval_original
```

(`fanet-evaluate` on the original files, not the pack's JPEGs; the run records the pack's
`{pack["dataset"]["layout"]}` layout, hence `--layout`.)
"""


def build(out: Path, dataset_root: str, layout: str, python_version: str, arch: str,
          wheels_dir: Path | None, from_installed: bool, keras_version: str | None,
          options: dataset.EncodeOptions) -> dict:
    """Write the pack into ``out`` (must be new or empty) and return its ``pack.json``."""
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"'{out}' is not empty; give a new folder")
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    packed = wheels.collect(out / "wheels", python_version, arch, wheels_dir, from_installed,
                            keras_version)
    (out / "wheels" / "manifest.json").write_text(
        json.dumps([w.to_dict() for w in packed], indent=2))
    code = sources.copy_sources(out / "code")
    data = dataset.reencode(dataset_root, layout, out / "data", options)
    shutil.copy2(run_pack.__file__, out / "run.py")
    (out / "run.sh").write_text('#!/bin/sh\nexec python3 "$(dirname "$0")/run.py" "$@"\n')
    for script in (out / "run.py", out / "run.sh"):
        script.chmod(0o755)
    sizes = {part: folder_bytes(out / part) for part in ("wheels", "code", "data")}
    pack = {"format": 1, "built": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "commit": git_commit(),
            "python_version": python_version, "arch": arch,
            "wheels": [w.to_dict() for w in packed], "code_files": len(code),
            "dataset": {**data, "path": "data"}, "bytes": sizes,
            "build_seconds": round(time.perf_counter() - started, 1)}
    (out / "README.md").write_text(readme(pack))
    pack["bytes"]["total"] = 0
    while pack["bytes"]["total"] != folder_bytes(out):  # the total includes pack.json itself
        pack["bytes"]["total"] = folder_bytes(out)
        (out / PACK_FILE).write_text(json.dumps(pack, indent=2))
    return pack


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m fanet_training.gpu_pack",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser("build", help="write a pack folder")
    build_parser.add_argument("out", type=Path, help="pack folder to write (new or empty)")
    build_parser.add_argument("--dataset-root", required=True, help="dataset folder")
    build_parser.add_argument("--layout", required=True, choices=sorted(dataset.PACK_LAYOUTS),
                              help="layout of the dataset folder")
    source = build_parser.add_mutually_exclusive_group()
    source.add_argument("--wheels", type=Path, metavar="DIR",
                        help="take the wheels from this folder (offline) instead of pip download")
    source.add_argument("--wheels-from-installed", action="store_true",
                        help="repack this Python's installed Keras & co. (offline; the target "
                             "Python must be this one's)")
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    build_parser.add_argument("--python-version", default=running,
                              help=f"Python of the GPU box (default {running})")
    build_parser.add_argument("--arch", default="x86_64", choices=("x86_64", "aarch64"))
    build_parser.add_argument("--keras-version", default=wheels.installed_version("keras"),
                              help="Keras version to ship (default: the installed one, "
                                   "which the training code is tested with)")
    build_parser.add_argument("--jpeg-quality", type=int, default=95)
    build_parser.add_argument("--max-width", type=int,
                              help="shrink wider images to this width (large datasets)")
    build_parser.add_argument("--max-mib", type=float, default=DEFAULT_MAX_MIB,
                              help="fail when the pack is larger (default 64)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = dataset.EncodeOptions(args.jpeg_quality, args.max_width)
    try:
        pack = build(args.out, args.dataset_root, args.layout, args.python_version, args.arch,
                     args.wheels, args.wheels_from_installed, args.keras_version, options)
    except (DatasetError, FileExistsError, wheels.WheelError, sources.SourceError) as exc:
        print(f"gpu_pack: error: {exc}", file=sys.stderr)
        return 2
    sizes = {k: v / 2**20 for k, v in pack["bytes"].items()}
    print(f"wrote {args.out}: {sizes['total']:.1f} MiB (wheels {sizes['wheels']:.1f}, code "
          f"{sizes['code']:.2f}, data {sizes['data']:.1f}), {pack['dataset']['splits']} images, "
          f"{len(pack['wheels'])} wheels, in {pack['build_seconds']} s")
    if sizes["total"] > args.max_mib:
        print(f"gpu_pack: error: {sizes['total']:.1f} MiB is over --max-mib {args.max_mib:g}; "
              "try --max-width or a lower --jpeg-quality", file=sys.stderr)
        return 1
    print(f"run it on the GPU box: {args.out}/run.sh OUTPUT   (see {args.out}/README.md)")
    return 0
