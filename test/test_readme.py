"""The README's generated parts match the code they describe."""

from __future__ import annotations

from pathlib import Path

from fanet_ros.node_parameters import parameters_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_parameter_table_matches_the_declared_parameters():
    assert parameters_markdown() in (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/test.sh" in readme and "bash scripts/demo.sh" in readme
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
