"""The first-GPU-run command: its steps, their verdicts and exit status, without a GPU."""

from __future__ import annotations

import sys

from fanet_ros.tensorrt import gpu_check
from fanet_ros.tensorrt.self_test import FAIL, PASS, SKIP

REPORT = """<testsuites><testsuite>
<testcase name="a"/><testcase name="b"><skipped/></testcase>{extra}
</testsuite></testsuites>"""


def fake_runner(codes: dict[str, int], extra: str = ""):
    seen = []

    def run(command, timeout_s):
        seen.append(command)
        for argument in command:
            if argument.startswith("--junitxml="):
                with open(argument.split("=", 1)[1], "w") as handle:
                    handle.write(REPORT.format(extra=extra))
        name = "check_engine" if "fanet_ros.tensorrt.check_engine_cli" in command else (
            "cuda" if any("test_cuda_runtime" in a for a in command) else "gpu")
        return codes[name], f"{name} output"

    return run, seen


def test_each_step_gets_a_verdict_and_the_worst_decides_the_exit_status(tmp_path, capsys):
    run, seen = fake_runner({"check_engine": 0, "gpu": 0, "cuda": 1}, "")
    rows = gpu_check.gpu_check(run, 5, ["--precision", "fp32"], test_dir=tmp_path)
    assert [r.step for r in rows] == ["environment", "check_engine --full", "pytest -m gpu",
                                      "pytest test_cuda_runtime (real cuda-python)"]
    assert rows[1].result == PASS
    assert rows[2].result == SKIP and "1 passed, 0 failed, 1 skipped" in rows[2].detail
    assert rows[3].result == FAIL
    assert seen[0][:3] == [sys.executable, "-m", "fanet_ros.tensorrt.check_engine_cli"]
    assert seen[0][-2:] == ["--precision", "fp32"]
    assert ["-m", "gpu"] == seen[1][-3:-1]
    assert gpu_check.exit_status(rows) == 1


def test_a_failed_test_or_a_timeout_is_a_failure_and_no_clone_is_a_skip(tmp_path):
    run, _ = fake_runner({"check_engine": 2, "gpu": 1, "cuda": 124}, '<testcase name="c">'
                         '<failure/></testcase>')
    rows = gpu_check.gpu_check(run, 5, test_dir=tmp_path)
    assert [r.result for r in rows[1:]] == [SKIP, FAIL, FAIL]
    missing = gpu_check.pytest_row("x", [], run, 5, tmp_path / "missing")
    assert missing.result == SKIP and "run from a clone" in missing.detail


def test_the_command_runs_and_times_out(tmp_path):
    assert gpu_check.run_command([sys.executable, "-c", "print('hello')"], 30) == (0, "hello")
    code, why = gpu_check.run_command([sys.executable, "-c", "import time; time.sleep(5)"], 0.5)
    assert code == 124 and "ran past" in why
