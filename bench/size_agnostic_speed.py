"""ONNX Runtime (CPU) time of a shipped model against earlier versions of it, in one process.

The shipped model (working tree) is timed with the same model from git revisions
(``--ref NAME=REV``, default ``fixed=main``, the fixed-size export the size-agnostic one is
made from). All sessions take turns run by run, so a change of load on a shared CPU hits
them alike; min and median per variant and their ratios to the first ref are written to
``bench/results/size_agnostic_speed.json``. Each revision is recorded as the commit it
names when the benchmark runs (``main`` moves on), in the results and in their command.

    python -m bench.size_agnostic_speed --model fanet_camvid --size 384x512 \\
        --ref fixed=main --ref tf2onnx_dynamic=d3b7b92 --runs 80
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from bench.common import REPO as ROOT
from bench.common import module_command, parse_size, write_results
from bench.render_performance import size_agnostic_speed as render
from fanet_ros.shipped_models import resolve_model

UNITS = {"*_ms": "milliseconds", "*_ratio": "time / the first variant's time",
         "max_abs_diff_to_*": "largest absolute difference of the model's outputs"}


def model_at(revision: str, path: Path) -> bytes:
    """The bytes of ``path`` (inside the repository) at git ``revision``."""
    relative = path.resolve().relative_to(ROOT).as_posix()
    return subprocess.run(["git", "show", f"{revision}:{relative}"], cwd=ROOT, check=True,
                          capture_output=True).stdout


def commit_of(revision: str) -> str:
    """The short commit that ``revision`` (a branch, tag or commit) names now."""
    return subprocess.run(["git", "rev-parse", "--short", f"{revision}^{{commit}}"], cwd=ROOT,
                          check=True, capture_output=True, text=True).stdout.strip()


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


def without_refs(args: list[str]) -> list[str]:
    """``args`` without their ``--ref NAME=REV`` options (recorded as commits instead)."""
    kept, skip = [], False
    for arg in args:
        if skip or arg == "--ref" or arg.startswith("--ref="):
            skip = arg == "--ref"
            continue
        kept.append(arg)
    return kept


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
    parser.add_argument("--results-dir", type=Path, default=None)
    args = parser.parse_args(argv)

    path = resolve_model(args.model)
    refs = {name: commit_of(rev) for name, rev in
            (ref.split("=", 1) for ref in args.ref or ["fixed=main"])}
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
    refs_as_commits = [a for name, commit in refs.items() for a in ("--ref", f"{name}={commit}")]
    data = {"benchmark": "size_agnostic_speed",
            "command": module_command("bench.size_agnostic_speed", [
                *without_refs(sys.argv[1:] if argv is None else argv), *refs_as_commits]),
            "model": path.name, "size": args.size, "runs": args.runs,
            "onnxruntime_threads": args.threads, "onnxruntime": ort.__version__,
            "timing": rows}
    written = write_results("size_agnostic_speed", data, args.results_dir, UNITS)
    print(render(json.loads(written.read_text())))
    print(f"\nwrote {written}")
    return data


if __name__ == "__main__":
    main()
