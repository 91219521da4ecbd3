"""The README's generated parts match the code they describe."""

from __future__ import annotations

from pathlib import Path

from fanet_ros.node.node_parameters import parameters_markdown
from fanet_ros.node.topics import topics_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_parameter_table_matches_the_declared_parameters():
    assert parameters_markdown() in (ROOT / "README.md").read_text()


def test_topic_tables_are_the_generated_one():
    """One table (fanet_ros.node.topics), shown in the README and docs/node.md."""
    for page in ("README.md", "docs/node.md"):
        assert topics_markdown() in (ROOT / page).read_text(), page


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/test.sh" in readme and "bash scripts/demo.sh" in readme
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def block(text: str, name: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    assert start in text and end in text, name
    return text.split(start, 1)[1].split(end, 1)[0].strip()


def test_readme_is_an_entry_point_with_its_generated_blocks():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 180
    for name in ("demo", "models", "performance"):
        assert block(readme, name), name
    for page in ("training", "evaluation", "tensorrt", "performance", "launch", "node"):
        assert f"(docs/{page}.md)" in readme and (ROOT / "docs" / f"{page}.md").is_file(), page


def test_performance_block_is_the_rendered_summary():
    from bench.render_performance import load_results, readme_performance

    assert block((ROOT / "README.md").read_text(), "performance") == \
        readme_performance(load_results())


def test_models_block_is_generated_from_the_shipped_cards_and_the_node_run():
    from bench.render_performance import load_results, readme_models

    models = block((ROOT / "README.md").read_text(), "models")
    assert models == readme_models(load_results(), ROOT)
    for card in sorted((ROOT / "fanet_ros" / "models").glob("*.md")):
        assert f"`{card.stem}.onnx`" in models and f"(fanet_ros/models/{card.name})" in models
    # the figures through the node come from a recorded run of the shipped models
    node_run = next(line for line in models.splitlines() if line.startswith("Through the node"))
    assert "python -m bench.shipped_through_node" in node_run
    for model in sorted((ROOT / "fanet_ros" / "models").glob("*_camvid.onnx")):
        assert f"{model.stem} " in node_run, model.stem


def test_commands_are_documented_under_both_names():
    readme = (ROOT / "README.md").read_text()
    assert "ros2 run fanet_ros" in readme and "fanet-demo" in readme
    for name in ("segmentation_node", "demo", "make_bag", "bag_eval", "check_engine"):
        assert f"`{name}`" in readme, name
