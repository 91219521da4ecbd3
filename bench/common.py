"""Helpers shared by the benchmark scripts: timing, sizes, results files, machine facts."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fanet_ros.tooling.host import cpu_model

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
CACHE_DIR = Path(os.environ.get("FANET_BENCH_CACHE", Path.home() / ".cache" / "fanet_ros_bench"))
"""Exported models and other artifacts the benchmarks make (never the repository)."""


def exporter_digest() -> str:
    """12 hex digits of the code an export depends on (the models, ``fanet_training.export``,
    ``fanet_ros.onnx``): part of cached exports' names, so a change to it exports again."""
    digest = hashlib.sha256()
    sources = [REPO / "fanet_training" / "export.py",
               *sorted((REPO / "fanet_training" / "models").glob("*.py")),
               *sorted((REPO / "fanet_ros" / "onnx").glob("*.py"))]
    for source in sources:
        digest.update(source.read_bytes())
    return digest.hexdigest()[:12]


def median_ms(fn: Callable[[], Any], iterations: int, warmup: int = 1) -> float:
    """Median wall-clock milliseconds of ``fn()`` over ``iterations`` runs after ``warmup``."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, iterations)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def parse_size(text: str) -> tuple[int, int]:
    """``"512x1024"`` -> ``(512, 1024)`` (height x width)."""
    height, _, width = text.lower().partition("x")
    return int(height), int(width)


def format_size(size: Sequence[int]) -> str:
    return f"{size[0]}x{size[1]}"


def module_command(module: str, argv: Sequence[str] | None = None) -> str:
    """The command that reruns this benchmark: ``python -m bench.NAME`` and its arguments
    (``argv``, default this process's) but ``--results-dir``. No machine's folders end up in
    the results: a path inside the repository is written relative to its root (where the
    command runs), any other as a placeholder named after its option (``--camvid CAMVID``)."""
    args, shown = list(sys.argv[1:] if argv is None else argv), []
    for i, arg in enumerate(args):
        if arg.startswith("--results-dir") or (i and args[i - 1] == "--results-dir"):
            continue
        option = args[i - 1] if i and args[i - 1].startswith("--") else ""
        shown.append(portable_argument(arg, option))
    return " ".join(["python -m", module, *shown])


def portable_argument(arg: str, option: str = "") -> str:
    """``arg`` as a recorded command shows it: a path (it has a ``/`` or is ``.``/``..``)
    relative to the repository root when it lies inside it, else ``option``'s placeholder
    (``--peer-onnx`` -> ``PEER_ONNX``; ``PATH`` without one); anything else as it is."""
    if "=" in arg:  # --option=PATH, NAME=PATH
        head, _, tail = arg.partition("=")
        return f"{head}={portable_argument(tail, head if head.startswith('--') else option)}"
    if arg.startswith("-") or ("/" not in arg and arg not in (".", "..")):
        return arg
    resolved = Path(arg).resolve()
    if resolved.is_relative_to(REPO):
        return resolved.relative_to(REPO).as_posix()
    return option.lstrip("-").replace("-", "_").upper() or "PATH"


def portable_path(path: str) -> str:
    """``path`` relative to the repository root when it lies inside it, else its name."""
    resolved = Path(path).resolve()
    return (resolved.relative_to(REPO).as_posix() if resolved.is_relative_to(REPO)
            else resolved.name)


def subprocess_module(module: str, *args: str) -> list[str]:
    """The command line that runs the bench module ``module`` (``bench.x``) in a child
    process; start it with ``cwd=REPO`` (:data:`REPO`), as the benchmarks run from the root."""
    return [sys.executable, "-m", module, *args]


def git_ref() -> dict[str, Any] | None:
    """The commit the benchmark runs at and whether the working tree differs from it
    (``None`` outside a git checkout)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, check=True,
                                capture_output=True, text=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=REPO, check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


def machine_info() -> dict[str, Any]:
    """CPU, core count and load, so every result says what it ran on."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(),
        "time": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def write_results(name: str, data: dict[str, Any], results_dir: Path | None = None,
                  units: dict[str, str] | None = None) -> Path:
    """Write ``data`` to ``results_dir/name.json`` (default :data:`RESULTS_DIR`) with the
    facts every result carries: ``benchmark`` (the module), ``command`` (``data``'s, which
    reruns it), ``git`` (:func:`git_ref`), ``machine`` (:func:`machine_info`, its ``time``
    is the date) and ``units`` (what the numbers' names mean). Returns the path. Results
    are data only: the renderer (``python -m bench.render_performance``) formats them."""
    results_dir = results_dir or RESULTS_DIR
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    head = {"benchmark": data.get("benchmark", name), "command": data.get("command"),
            "git": git_ref(), "machine": machine_info(), "units": units or {}}
    body = {k: v for k, v in data.items() if k not in head}
    path.write_text(json.dumps({**head, **body}, indent=2) + "\n")
    return path


def write_and_show(name: str, data: dict[str, Any], results_dir: Path | None,
                   units: dict[str, str], render: Callable[[dict[str, Any]], str]) -> Path:
    """:func:`write_results`, then print the result as the renderer shows it and its path."""
    path = write_results(name, data, results_dir, units)
    print(render(json.loads(path.read_text())))
    print(f"wrote {path}")
    return path
