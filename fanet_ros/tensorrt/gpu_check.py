"""The first run on a GPU, as one command: ``python -m fanet_ros.tensorrt.gpu_check``.

Runs, each in its own process with a time limit, and prints PASS, FAIL or SKIP per step:

1. environment: TensorRT, cuda-python and the GPU (``tensorrt_status``);
2. ``check_engine --full`` on the shipped model (engines, the node on the GPU);
3. ``pytest -m gpu``: the GPU tests of ``test/`` (real engines against ONNX Runtime);
4. ``pytest test/test_cuda_runtime.py -k cuda-python``: the CUDA half against real cuda-python.

The pytest steps need a clone of the repository (its ``test/`` folder beside
the package); from an installed wheel they are skipped with the reason.
Meant for Jetson Orin (JetPack 6: TensorRT 8.6 or 10.3) and x86 desktops
(TensorRT 10.x or 11.x). Exit status: 0 all passed, 1 a step failed, 2 a step
was skipped (could not run).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from pathlib import Path

from fanet_ros.tensorrt.availability import tensorrt_status
from fanet_ros.tensorrt.self_test import FAIL, PASS, SKIP, Row, exit_status, format_table

REPO_TEST_DIR = Path(__file__).resolve().parents[2] / "test"
Runner = Callable[[list[str], float], tuple[int, str]]


def run_command(command: list[str], timeout_s: float) -> tuple[int, str]:
    """``(exit status, last lines of output)``; 124 when it ran past ``timeout_s``."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return 124, f"ran past {timeout_s:g} s"
    return done.returncode, _tail(done.stdout + done.stderr)


def _tail(text: str, lines: int = 3) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def check_engine_row(run: Runner, timeout_s: float, extra: list[str]) -> Row:
    command = [sys.executable, "-m", "fanet_ros.tensorrt.check_engine_cli", "--full", *extra]
    code, tail = run(command, timeout_s)
    result = {0: PASS, 1: FAIL, 2: SKIP}.get(code, FAIL)
    return Row("check_engine --full", result, f"exit {code}: {tail}")


def junit_counts(path: Path) -> dict[str, int]:
    """passed, failed, skipped from a pytest ``--junitxml`` report (zeros if it is missing)."""
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError):
        return counts
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            counts["failed"] += 1
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    return counts


def pytest_row(step: str, args: list[str], run: Runner, timeout_s: float,
               test_dir: Path = REPO_TEST_DIR) -> Row:
    """PASS: something ran and nothing failed or was skipped; SKIP: everything was skipped."""
    if not test_dir.is_dir():
        return Row(step, SKIP, f"no test folder {test_dir}: run from a clone of fanet_ros")
    with tempfile.TemporaryDirectory() as work:
        report = Path(work) / "report.xml"
        code, tail = run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                          f"--junitxml={report}", *args], timeout_s)
        counts = junit_counts(report)
    summary = f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
    if code == 124:
        return Row(step, FAIL, f"{summary}; {tail}")
    if counts["failed"] or code not in (0, 5):
        return Row(step, FAIL, f"{summary} (exit {code}): {tail}")
    if counts["passed"] == 0:
        return Row(step, SKIP, f"{summary}: {tail}")
    return Row(step, PASS if counts["skipped"] == 0 else SKIP, f"{summary}: {tail}")


def gpu_check(run: Runner = run_command, timeout_s: float = 1200.0,
              check_engine_args: list[str] | None = None,
              test_dir: Path = REPO_TEST_DIR) -> list[Row]:
    usable, why = tensorrt_status()
    rows = [Row("environment", PASS if usable else SKIP, why)]
    rows.append(check_engine_row(run, timeout_s, check_engine_args or []))
    rows.append(pytest_row("pytest -m gpu", ["-m", "gpu", str(test_dir)], run, timeout_s,
                           test_dir))
    rows.append(pytest_row("pytest test_cuda_runtime (real cuda-python)",
                           [str(test_dir / "test_cuda_runtime.py"), "-k", "cuda-python"],
                           run, timeout_s, test_dir))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=1200.0,
                        help="seconds each step may take (engine builds on a Jetson are slow)")
    parser.add_argument("check_engine_args", nargs="*",
                        help="passed to check_engine --full after '--' (e.g. -- --precision fp32)")
    args = parser.parse_args(argv)
    rows = gpu_check(timeout_s=args.timeout, check_engine_args=args.check_engine_args)
    print(format_table(rows))
    return exit_status(rows)


if __name__ == "__main__":
    sys.exit(main())
