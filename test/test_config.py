"""config/: the parameter files load into the real node; the rviz2 config shows its real topics."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from rclpy.parameter import Parameter

from fanet_ros.launching.launch_arguments import PARAMS_FILE as PARAMS_FILE_NAME
from fanet_ros.launching.launch_arguments import (
    RVIZ_TEMPLATE,
    SegmentationLaunch,
    image_displays,
    namespaced_rviz_config,
    parameter_problems,
    resolve_launch,
    rviz_display_topics,
    write_rviz_config,
)
from fanet_ros.node.node_parameters import PARAMETERS_BY_NAME
from fanet_ros.node.segmentation_node import SegmentationNode
from fanet_ros.node.topics import TOPICS

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
PARAMS_FILE = CONFIG_DIR / PARAMS_FILE_NAME


def file_values(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["/**"]["ros__parameters"]


def wait_for(predicate, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while not (result := predicate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return result


# -- parameter files -------------------------------------------------------------

def test_one_params_file_holds_every_node_default():
    assert sorted(CONFIG_DIR.glob("*.yaml")) == [PARAMS_FILE]
    document = yaml.safe_load(PARAMS_FILE.read_text())
    assert list(document) == ["/**"]
    values = file_values(PARAMS_FILE)
    assert values == {name: spec.default for name, spec in PARAMETERS_BY_NAME.items()}
    for name, value in values.items():
        assert type(value) is type(PARAMETERS_BY_NAME[name].default), name
    assert parameter_problems({}, {}, values) == []  # what the launch checks a file for


def test_params_file_loads_into_the_node(own_ros_context, tiny_model):
    node = SegmentationNode(
        context=own_ros_context,
        cli_args=["--ros-args", "--params-file", str(PARAMS_FILE), "-p",
                  f"model_path:={tiny_model}"],
    )
    try:
        for name, value in file_values(PARAMS_FILE).items():
            if PARAMETERS_BY_NAME[name].names:  # ROS 2 reads an empty YAML list as "not set"
                assert value == [] and node.params[name] == [], name
                assert node.describe_parameter(name).dynamic_typing  # so [] can be set
            elif name != "model_path":
                assert node.get_parameter(name).value == value, name
    finally:
        node.destroy_node()


def test_params_file_values_reach_the_node(tmp_path, own_ros_context, tiny_model):
    """The shipped file holds the node defaults; an edited copy shows the file really applies."""
    document = yaml.safe_load(PARAMS_FILE.read_text())
    document["/**"]["ros__parameters"] |= {"overlay_alpha": 0.25, "num_threads": 1}
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(document))
    node = SegmentationNode(
        context=own_ros_context,
        cli_args=["--ros-args", "--params-file", str(edited), "-p", f"model_path:={tiny_model}"],
    )
    try:
        assert node.get_parameter("overlay_alpha").value == 0.25
        assert node.get_parameter("num_threads").value == 1
    finally:
        node.destroy_node()


# -- rviz2 ------------------------------------------------------------------------

def test_rviz_config_is_an_rviz2_config_of_image_displays():
    config = yaml.safe_load((CONFIG_DIR / RVIZ_TEMPLATE).read_text())
    assert {"Panels", "Visualization Manager", "Window Geometry"} <= set(config)
    manager = config["Visualization Manager"]
    assert {"Class", "Displays", "Global Options", "Tools", "Views"} <= set(manager)
    displays = manager["Displays"]
    assert displays == image_displays(config)
    names = {d["Name"] for d in displays}
    assert names == {"Camera", "Colour mask", "Overlay"}
    assert names <= set(config["Window Geometry"])  # their docked image panels


def test_shipped_rviz_topics_are_those_of_the_default_launch(tiny_model):
    config = yaml.safe_load((CONFIG_DIR / RVIZ_TEMPLATE).read_text())
    plan = resolve_launch({"model_path": str(tiny_model)}, CONFIG_DIR)
    shown = {d["Name"]: d["Topic"]["Value"] for d in image_displays(config)}
    assert shown == rviz_display_topics(plan)


def test_namespaced_rviz_config_changes_only_the_topics(tiny_model, tmp_path):
    plan = resolve_launch({"model_path": str(tiny_model), "namespace": "front"}, CONFIG_DIR)
    template = yaml.safe_load((CONFIG_DIR / RVIZ_TEMPLATE).read_text())
    path = write_rviz_config(CONFIG_DIR / RVIZ_TEMPLATE, plan, tmp_path)
    assert write_rviz_config(CONFIG_DIR / RVIZ_TEMPLATE, plan, tmp_path) == path  # replaced
    assert [p.name for p in tmp_path.iterdir()] == ["rviz_front.rviz"]  # one file, no leftovers
    namespaced = yaml.safe_load(path.read_text())
    shown = {d["Name"]: d["Topic"].pop("Value") for d in image_displays(namespaced)}
    assert shown["Overlay"] == "/front/segmentation_node/overlay"
    for display in image_displays(template):
        display["Topic"].pop("Value")
    assert namespaced == template


def test_rviz_shows_the_compressed_camera_topic_when_the_node_reads_it(tiny_model, tmp_path):
    """A compressed-only camera has no raw topic: the Camera display names the compressed
    one, set by the argument or by the params file."""
    params = tmp_path / "params.yaml"
    params.write_text("/**:\n  ros__parameters:\n    image_transport: compressed\n")
    for arguments in ({"image_transport": "compressed"}, {"params_file": str(params)}):
        plan = resolve_launch({"model_path": str(tiny_model), "namespace": "front", **arguments},
                              CONFIG_DIR)
        assert rviz_display_topics(plan)["Camera"] == "/front/camera/image_raw/compressed"
    plan = resolve_launch({"model_path": str(tiny_model), "params_file": str(params),
                           "image_transport": "raw"}, CONFIG_DIR)  # the argument wins
    assert rviz_display_topics(plan)["Camera"] == "/camera/image_raw"



@pytest.mark.parametrize(("setting", "policy"), [("", "Reliable"), ("reliable", "Reliable"),
                                                 ("best_effort", "Best Effort")])
def test_rviz_subscribes_to_the_camera_as_the_node_does(tiny_model, tmp_path, setting, policy):
    """Before: the Camera display was best effort, and Fast DDS drops a reliable camera's large
    frames to a best-effort reader (0 of 20 at 640x480): Overlay showed, Camera stayed black."""
    params = tmp_path / "params.yaml"
    params.write_text("/**:\n  ros__parameters:\n" + (f"    input_reliability: {setting}\n"
                                                         if setting else "    {}\n"))
    plan = resolve_launch({"model_path": str(tiny_model), "params_file": str(params)},
                          CONFIG_DIR)
    config = yaml.safe_load(write_rviz_config(CONFIG_DIR / RVIZ_TEMPLATE, plan,
                                              tmp_path / "rviz").read_text())
    policies = {d["Name"]: d["Topic"]["Reliability Policy"] for d in image_displays(config)}
    assert policies == {"Camera": policy, "Colour mask": "Reliable", "Overlay": "Reliable"}

def test_rviz_config_without_a_needed_display_is_refused(tiny_model):
    plan = resolve_launch({"model_path": str(tiny_model)}, CONFIG_DIR)
    config = yaml.safe_load((CONFIG_DIR / RVIZ_TEMPLATE).read_text())
    config["Visualization Manager"]["Displays"].pop()
    with pytest.raises(ValueError, match="no Image display named Camera"):
        namespaced_rviz_config(yaml.safe_dump(config), plan)


def start_as_launched(plan: SegmentationLaunch, context) -> SegmentationNode:
    """The node as segmentation.launch.py starts it: namespace, parameters, image remap."""
    return SegmentationNode(
        context=context,
        namespace=plan.namespace,
        parameter_overrides=[Parameter(k, value=v) for k, v in plan.parameters.items()],
        cli_args=["--ros-args", "--params-file", str(plan.params_file),
                  "-r", f"image:={plan.image_topic}"],
    )


def test_rviz_shows_topics_the_namespaced_node_really_uses(own_ros_context, tiny_model):
    plan = resolve_launch(
        {"model_path": str(tiny_model), "namespace": "front", "image": "camera/image_raw",
         "gpu_device": "1"},
        CONFIG_DIR,
    )
    node = start_as_launched(plan, own_ros_context)
    try:
        def graph() -> tuple[dict, dict]:
            pubs = node.get_publisher_names_and_types_by_node("segmentation_node", "/front")
            subs = node.get_subscriber_names_and_types_by_node("segmentation_node", "/front")
            return dict(pubs), dict(subs)

        published, subscribed = wait_for(lambda: all(graph()) and graph())
        config = yaml.safe_load(namespaced_rviz_config(
            (CONFIG_DIR / RVIZ_TEMPLATE).read_text(), plan
        ))
        shown = {d["Name"]: d["Topic"]["Value"] for d in image_displays(config)}
        assert published[shown["Overlay"]] == ["sensor_msgs/msg/Image"]
        assert published[shown["Colour mask"]] == ["sensor_msgs/msg/Image"]
        assert subscribed[shown["Camera"]] == ["sensor_msgs/msg/Image"]
        assert shown["Camera"] == "/front/camera/image_raw"
        assert node.get_parameter("gpu_device").value == 1
        # the topic table of README and docs/node.md (fanet_ros.node.topics) is what it publishes
        table = {topic.name.replace("~", "/front/segmentation_node"):
                 [topic.type.replace("/", "/msg/")] for topic in TOPICS if topic.published}
        ros_own = {"/rosout", "/parameter_events"}
        assert wait_for(lambda: {k: v for k, v in graph()[0].items() if k not in ros_own}
                        == table), graph()[0]
        image = next(topic for topic in TOPICS if topic.name == "image")
        assert subscribed[shown["Camera"]] == [image.type.replace("/", "/msg/")]
    finally:
        node.destroy_node()


def test_a_misspelt_parameter_is_named_and_other_nodes_parameters_are_not(
        own_ros_context, tiny_model, capfd):
    node = SegmentationNode(
        context=own_ros_context,
        cli_args=["--ros-args", "-p", f"model_path:={tiny_model}",
                  "-p", "output_resolutin:=model", "-p", "publish_rate:=5.0"],
    )
    node.destroy_node()
    err = capfd.readouterr().err
    assert ("parameter 'output_resolutin' is not one of this node's and is ignored: did you "
            "mean 'output_resolution'?") in err
    assert "publish_rate" not in err  # a /** file's parameter of another node
