"""bench/results holds data only, and the docs' generated blocks are what the renderer makes
of it (``python -m bench.render_performance`` rewrites them)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bench import render_performance
from bench.common import RESULTS_DIR, module_command

ROOT = Path(__file__).resolve().parents[1]
RESULTS = sorted(RESULTS_DIR.iterdir())
FOLDERS = [p for p in (ROOT, ROOT.parent, Path.home()) if len(p.parts) > 1]
"""This machine's folders, which no result may name."""


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


@pytest.mark.parametrize("path", RESULTS, ids=[p.name for p in RESULTS])
def test_a_result_is_data_with_its_command_machine_and_commit(path: Path) -> None:
    assert path.suffix in (".json", ".csv"), path.name
    if path.suffix == ".csv":
        return
    data = json.loads(path.read_text())
    assert not {"markdown", "table"} & data.keys()
    for text in strings(data):  # no rendered tables or paragraphs, no machine's folders
        assert "|---" not in text and "\n" not in text, text[:80]
        assert not any(f"{folder}/" in text for folder in FOLDERS), text[:80]
    assert isinstance(data["units"], dict) and data["units"]
    # one run per file, or (bench.soak) runs appended to one file, each with its facts
    for run in [data] if "command" in data else data["runs"]:
        assert run["command"].startswith(f"python -m bench.{data['benchmark']}")
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \w+", run["machine"]["time"])
        assert {"cpu", "cores", "load_average_1_5_15"} <= run["machine"].keys()
        git = run["git"]
        assert re.fullmatch(r"[0-9a-f]{7,}", git.get("commit") or git.get("recorded_in", ""))
        if "recorded_in" in git:  # an earlier run, converted: it says so, with its command
            assert run["provenance"]["ran_as"] in run["provenance"]["note"]


def test_the_docs_generated_blocks_match_bench_results() -> None:
    texts = render_performance.rendered(render_performance.load_results(), ROOT)
    assert {Path("docs/performance.md"), Path("docs/node.md"), Path("README.md")} <= texts.keys()
    for document, text in texts.items():
        assert (ROOT / document).read_text() == text, (
            f"{document}: run python -m bench.render_performance")


def test_every_performance_block_has_a_result_and_every_result_a_block(tmp_path) -> None:
    page = (ROOT / "docs" / "performance.md").read_text()
    names = set(re.findall(r"<!-- (\w+):start -->", page))
    results = render_performance.load_results()
    assert names == render_performance.blocks(results, ROOT)[Path("docs/performance.md")].keys()
    # a new variant's results without a block on the page: the renderer says so
    results["node_pipeline_new_variant"] = results["node_pipeline"]
    with pytest.raises(ValueError, match="node_pipeline_new_variant:start"):
        render_performance.rendered(results, ROOT)


def test_every_shipped_camvid_model_shows_val_held_out_robustness_and_speed() -> None:
    block = render_performance.shipped_models(render_performance.load_results(), ROOT)
    shipped = sorted((ROOT / "fanet_ros" / "models").glob("*_camvid.onnx"))
    assert shipped
    for model in shipped:
        report = json.loads(model.with_suffix(".robustness.json").read_text())
        assert report["drives"] and {"clean", "dark (gamma 2.2, gain 0.6)"} <= report[
            "results"].keys()
        row = next(line for line in block.splitlines() if f"[{model.stem}]" in line)
        assert row.count("%") == 4 and "| - |" not in row  # every figure is there


def test_no_stale_result_stands_beside_the_current_ones() -> None:
    """The early node run (random weights, the --labels head, a transport its own command
    contradicted) was removed; results of the node pipeline describe the shipped model."""
    results = render_performance.load_results()
    assert "node_pipeline_glibc_defaults" not in results
    for data in results.values():
        if data["benchmark"] == "node_pipeline":
            assert data["model"]["weights"] == "trained" and data["model"]["output"] == "logits"
            assert {r["transport"] for r in data["runs"]} <= {"default", "fastdds_large_images"}


def test_size_agnostic_speed_names_the_commit_main_was() -> None:
    data = json.loads((RESULTS_DIR / "size_agnostic_speed.json").read_text())
    assert "--ref fixed=c69ad73" in data["command"]
    assert data["timing"][0]["revision"] == "c69ad73"


def test_recorded_commands_rerun_from_the_root(monkeypatch) -> None:
    monkeypatch.setattr("sys.argv", ["x", "--camvid", "/abs/data/camvid", "--rounds", "3"])
    assert module_command("bench.ort_tuning") == \
        "python -m bench.ort_tuning --camvid CAMVID --rounds 3"
    monkeypatch.chdir(ROOT)
    assert module_command("bench.x", [
        "--peer-onnx", "../peer/fast.onnx", "--model", "fanet_camvid", "--holdout-model",
        "campaign/fanet_schedule_300/heldout.onnx", "--results-dir", "/tmp/r", "../runs",
        "--twin", "tiny=/tmp/run", "--out=/tmp/o", "--ref", "fixed=c69ad73"]) == (
        "python -m bench.x --peer-onnx PEER_ONNX --model fanet_camvid --holdout-model "
        "campaign/fanet_schedule_300/heldout.onnx PATH --twin tiny=TWIN --out=OUT "
        "--ref fixed=c69ad73")


def test_no_recorded_command_names_a_folder_outside_the_repository() -> None:
    for name, data in render_performance.load_results().items():
        for command in re.findall(r'"command": "([^"]*)"', json.dumps(data)):
            assert not re.search(r"\.\./|[ =]/", command), (name, command)


def test_bench_needs_no_path_hacks() -> None:
    for path in sorted((ROOT / "bench").glob("*.py")):
        text = path.read_text()
        assert "sys.path" not in text and "noqa: E402" not in text, path.name
