"""The benchmark scripts still run end to end (tiny sizes, one or two iterations)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_model import build_tiny_model

from bench.render_performance import pipeline_stages

ROOT = Path(__file__).resolve().parent.parent


def run_bench(name: str, *args: str, env: dict[str, str] | None = None,
              timeout: float = 240) -> None:
    """``python -m bench.NAME ARGS`` from the repository root, as the docs run it."""
    result = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *args], cwd=ROOT,
        capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_pipeline_stages_and_its_rendered_block(tmp_path):
    run_bench("pipeline_stages", "--camera-size", "64x128", "--model-size", "32x64",
              "--iterations", "2", "--results-dir", str(tmp_path))
    stages = json.loads((tmp_path / "pipeline_stages.json").read_text())
    assert stages["postprocess_after_ms"] > 0 and "markdown" not in stages
    assert stages["command"].startswith("python -m bench.pipeline_stages --camera-size 64x128")
    assert stages["git"] is None or len(stages["git"]["commit"]) >= 7
    block = pipeline_stages(stages)
    assert "postprocess, now" in block and "| speed-up |" in block


def test_message_buffers_times_both_malloc_settings(tmp_path):
    run_bench("message_buffers", "--camera-size", "64x128", "--iterations", "2",
              "--results-dir", str(tmp_path))
    modes = json.loads((tmp_path / "message_buffers.json").read_text())["modes"]
    assert set(modes) == {"glibc defaults", "keep_image_buffers()"}
    assert all(m["serialize_ms"] > 0 and m["deserialize_ms"] > 0 for m in modes.values())


@pytest.mark.slow
def test_node_pipeline_reports_stages_latency_and_memory(tmp_path):
    model = build_tiny_model(tmp_path / "tiny.onnx", 32, 64, dynamic=False)
    run_bench("node_pipeline", "--model", str(model), "--camera-size", "64x128",
              "--rates", "20", "--warmup", "1", "--duration", "1.5",
              "--results-dir", str(tmp_path), env={"FANET_BENCH_CACHE": str(tmp_path)})
    run = json.loads((tmp_path / "node_pipeline.json").read_text())["runs"][0]
    assert run["outputs_received"]["overlay"] > 0 and run["latency_ms"]["p95"] > 0
    assert run["stage_ms"]["inference"] > 0 and run["rss_mb_end"] > 0


@pytest.mark.slow
def test_model_table_times_network_and_heads_apart(tmp_path):
    pytest.importorskip("keras")  # the table builds the models
    run_bench("model_table", "--models", "fanet", "--size", "128x256", "--camera", "256x512",
              "--iterations", "1", "--frames", "1", "--results-dir", str(tmp_path),
              env={"FANET_BENCH_CACHE": str(tmp_path / "cache")})
    data = json.loads((tmp_path / "model_table.json").read_text())
    row = data["network"][0]
    assert row["parameters"] > 1_000_000 and row["gmacs"] > 0 and row["ms"] > 0
    assert 0 < row["share_of_peak"] < 1
    heads = {v["head"]: v for v in data["heads"]["variants"]}
    exact = heads["exact boundary refinement at camera resolution (node default)"]
    assert exact["agreement_with_camera_resize"] > 0.9999
    assert [r["frame_ms"] > 0 for r in data["pipeline"]] == [True, True]
    assert "peer_skipped" in data



def test_cpu_peak_counts_avx512_lanes_where_intel_has_them():
    pytest.importorskip("keras")  # bench.model_table imports it
    from bench.model_table import cpu_peak

    def cpuinfo(vendor: str, flags: str) -> str:
        return f"vendor_id\t: {vendor}\ncpu MHz\t\t: 2000.000\nflags\t\t: fpu {flags}\n"

    intel = cpu_peak(2, cpuinfo("GenuineIntel", "avx2 fma avx512f avx512bw"))
    assert (intel["isa"], intel["gmac_per_s"]) == ("AVX-512", 2 * 2 * 16 * 2.0)
    assert cpu_peak(2, cpuinfo("AuthenticAMD", "avx2 fma avx512f"))["isa"] == "AVX2"
    assert cpu_peak(2, cpuinfo("GenuineIntel", "avx2 fma"))["gmac_per_s"] == 2 * 2 * 8 * 2.0

@pytest.mark.slow
def test_multi_camera_compares_one_node_with_two(tmp_path):
    run_bench("multi_camera", "--model", "fanet_synthetic", "--rate", "10",
              "--camera-size", "120x160", "--warmup", "1", "--duration", "1.5",
              "--results-dir", str(tmp_path))
    runs = json.loads((tmp_path / "multi_camera.json").read_text())["runs"]
    assert [r["processes"] for r in runs.values()] == [1, 2]
    assert all(r["rss_mib_median"] > 0 and r["fps"]["front"] > 0 and r["fps"]["rear"] > 0
               for r in runs.values())


@pytest.mark.slow
def test_resolution_table_scores_val_and_a_held_out_drive_per_size(tmp_path):
    pytest.importorskip("keras")
    from fanet_ros.synthetic.dataset import write_dataset
    from fanet_training.model_card import resolution_section

    data_root = write_dataset(tmp_path / "data", 12, 4, height=72, width=96, seed=2)
    model = build_tiny_model(tmp_path / "tiny.onnx")
    twin = build_tiny_model(tmp_path / "twin.onnx", seed=1)
    run_bench("resolution_table", "--camvid", str(data_root), "--model", str(model),
              "--holdout-model", str(twin), "--holdout-drives", "synth_0000",
              "--sizes", "32x64", "64x96", "--rounds", "1", "--runs", "1",
              "--results-dir", str(tmp_path))
    data = json.loads((tmp_path / "resolution_tiny.json").read_text())
    assert data["holdout"]["frames"] == 10 and data["val_frames"] == 4  # synth_00000-09
    assert [row["input"] for row in data["sizes"]] == ["32x64", "64x96"]
    assert all(0 <= row["holdout_miou"] <= 1 and row["holdout_miou"] != row["val_miou"]
               for row in data["sizes"])
    table = resolution_section(data)
    assert "| input (HxW) | val mIoU (%) | held-out mIoU (%) | inference ms | frame ms |" in table
    assert "without drive synth_0000, on that drive's 10 frames" in table


@pytest.mark.slow
def test_shipped_through_node_scores_val_and_the_twin_on_its_drive(tmp_path):
    from bench.shipped_through_node import render
    from fanet_ros.synthetic.dataset import write_dataset

    data_root = write_dataset(tmp_path / "data", 6, 3, height=72, width=96, seed=2)
    model = build_tiny_model(tmp_path / "tiny.onnx")
    twin_run = tmp_path / "twin_run"
    build_tiny_model(twin_run / "heldout.onnx", seed=1)
    run_bench("shipped_through_node", "--camvid", str(data_root), "--models", str(model),
              "--twin", f"tiny={twin_run}", "--holdout-drive", "synth_0000",
              "--results-dir", str(tmp_path))
    data = json.loads((tmp_path / "shipped_through_node.json").read_text())
    [row] = data["models"]
    assert row["model"] == "tiny" and row["twin"] == "twin_run"
    assert row["val"]["frames"] == 3 and row["holdout"]["frames"] == 6  # synth_00000-05
    assert row["val"]["miou"] != row["holdout"]["miou"] and row["val"]["fps"] > 0
    assert "tiny " in render(data) and "% on synth_0000 (its twin)" in render(data)
