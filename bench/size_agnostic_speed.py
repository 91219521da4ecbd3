"""ONNX Runtime (CPU) time of a shipped model against earlier versions of it, in one process.

The shipped model (working tree) is timed with the same model from git revisions
(``--ref NAME=REV``, default ``fixed=main``, the fixed-size export the size-agnostic one is
made from). All sessions take turns run by run, so a change of load on a shared CPU hits
them alike; min and median per variant and their ratios to the first ref are written to
``bench/results/size_agnostic_speed.json``.

    python bench/size_agnostic_speed.py --model fanet_camvid --size 384x512 \\
        --ref fixed=main --ref tf2onnx_dynamic=d3b7b92 --runs 80
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import markdown_table, parse_size, write_results  # noqa: E402

from fanet_ros.shipped_models import resolve_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def model_at(revision: str, path: Path) -> bytes:
    """The bytes of ``path`` (inside the repository) at git ``revision``."""
    relative = path.resolve().relative_to(ROOT).as_posix()
    return subprocess.run(["git", "show", f"{revision}:{relative}"], cwd=ROOT, check=True,
                          capture_output=True).stdout


def session(model: bytes | str, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def interleaved_ms(sessions: dict[str, ort.InferenceSession], batch: np.ndarray, runs: int,
                   warmup: int) -> dict[str, list[float]]:
    """Milliseconds per run of each session; the sessions take turns within each round."""
    feeds = {name: {s.get_inputs()[0].name: batch} for name, s in sessions.items()}
    for _ in range(warmup):
        for name, s in sessions.items():
            s.run(None, feeds[name])
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(runs):
        for name, s in sessions.items():
            start = time.perf_counter()
            s.run(None, feeds[name])
            times[name].append(1000 * (time.perf_counter() - start))
    return times


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="fanet_camvid", help="shipped model name")
    parser.add_argument("--size", default="384x512", help="input HxW")
    parser.add_argument("--ref", action="append", default=None,
                        help="NAME=REV: the model at git revision REV (default fixed=main)")
    parser.add_argument("--runs", type=int, default=80, help="timed runs per variant")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads, 0: default")
    args = parser.parse_args(argv)

    path = resolve_model(args.model)
    refs = dict(ref.split("=", 1) for ref in args.ref or ["fixed=main"])
    sessions = {name: session(model_at(rev, path), args.threads) for name, rev in refs.items()}
    sessions["shipped"] = session(str(path), args.threads)
    height, width = parse_size(args.size)
    batch = np.random.default_rng(0).random((1, height, width, 3), dtype=np.float32)
    outputs = {name: s.run(None, {s.get_inputs()[0].name: batch})[0]
               for name, s in sessions.items()}
    times = interleaved_ms(sessions, batch, args.runs, args.warmup)
    base = next(iter(refs))
    rows = []
    for name, values in times.items():
        rows.append({
            "variant": name, "revision": refs.get(name, "working tree"),
            "min_ms": min(values), "median_ms": statistics.median(values),
            "min_ratio": min(values) / min(times[base]),
            "median_ratio": statistics.median(values) / statistics.median(times[base]),
            "max_abs_diff_to_" + base: float(np.abs(outputs[name] - outputs[base]).max()),
        })
    table = markdown_table(["variant", "revision", "min ms", "median ms", "min ratio",
                            "median ratio"],
                           [[r["variant"], r["revision"], r["min_ms"], r["median_ms"],
                             r["min_ratio"], r["median_ratio"]] for r in rows])
    data = {"model": path.name, "size": args.size, "runs": args.runs,
            "onnxruntime_threads": args.threads, "onnxruntime": ort.__version__,
            "command": "python bench/size_agnostic_speed.py " + " ".join(
                argv if argv is not None else sys.argv[1:]),
            "timing": rows, "markdown": table}
    print(table)
    print(f"\nwrote {write_results('size_agnostic_speed', data)}")
    return data


if __name__ == "__main__":
    main()
