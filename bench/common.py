"""Helpers shared by the benchmark scripts: timing, tables, results files, machine facts."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fanet_ros.host import cpu_model

RESULTS_DIR = Path(__file__).resolve().parent / "results"
CACHE_DIR = Path(os.environ.get("FANET_BENCH_CACHE", Path.home() / ".cache" / "fanet_ros_bench"))
"""Exported models and other artifacts the benchmarks make (never the repository)."""


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


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table; floats get 2 decimals, ``None`` shows as a dash."""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.2f}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_info() -> dict[str, Any]:
    """CPU, core count and load, so every result says what it ran on."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(),
        "time": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def write_results(name: str, data: dict[str, Any], results_dir: Path | None = None) -> Path:
    """Write ``data`` plus machine facts to ``results_dir/name.json`` (default
    :data:`RESULTS_DIR`); return the path."""
    results_dir = results_dir or RESULTS_DIR
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    path.write_text(json.dumps({"machine": machine_info(), **data}, indent=2) + "\n")
    return path
