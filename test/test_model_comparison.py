"""bench.model_comparison runs end to end and reports what docs/models.md states."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_bench_smoke import run_bench

from bench.render_performance import model_comparison

pytest.importorskip("keras", reason="the comparison builds the models (pip install -e .[training])")


@pytest.mark.slow
def test_comparison_row_without_a_training_budget(tmp_path: Path) -> None:
    run_bench("model_comparison", "--models", "fast_scnn", "--size", "32x64",
              "--iterations", "1", "--results-dir", str(tmp_path),
              env={"FANET_BENCH_CACHE": str(tmp_path / "cache")}, timeout=300)
    data = json.loads((tmp_path / "model_comparison.json").read_text())
    row = data["models"][0]
    assert row["model"] == "fast_scnn" and row["stride"] == 8
    assert row["parameters"] == 1_125_619  # docs/models.md
    assert row["gmacs_1024x2048"] == pytest.approx(4 * row["gmacs_512x1024"], rel=0.01)
    assert row["network_ms"] > 0 and row["refine_ms"] is not None
    page = model_comparison(data)
    assert "not trained (budget not run)" in page and "Poudel" in page
