"""bench/model_comparison.py runs end to end and reports what docs/models.md states."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.slow
def test_comparison_row_without_a_training_budget(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / "model_comparison.py"), "--models", "fast_scnn",
         "--size", "32x64", "--iterations", "1", "--results-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "FANET_BENCH_CACHE": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads((tmp_path / "model_comparison.json").read_text())
    row = data["models"][0]
    assert row["model"] == "fast_scnn" and row["stride"] == 8
    assert row["parameters"] == 1_125_619  # docs/models.md
    assert row["gmacs_1024x2048"] == pytest.approx(4 * row["gmacs_512x1024"], rel=0.01)
    assert row["network_ms"] > 0 and row["refine_ms"] is not None
    assert "not trained (budget not run)" in data["markdown"]
    assert "Poudel" in data["markdown"]
