"""The launch layer's decisions without launch: arguments -> what starts, and launch-only checks."""

from __future__ import annotations

from pathlib import Path

import pytest

import fanet_ros.launching.launch_arguments as la
from fanet_ros import shipped_models
from fanet_ros.launching.launch_arguments import (
    LAUNCH_ARGUMENTS,
    LaunchArgumentError,
    command_line_names,
    full_namespace,
    launch_arguments_table,
    resolve_launch,
    unknown_arguments,
)
from fanet_ros.node.node_parameters import PARAMETERS_BY_NAME, combination_problems
from fanet_ros.shipped_models import shipped_model_names, shipped_model_path, shipped_pairs

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config"


def resolve(tiny_model: Path, **arguments: str) -> la.SegmentationLaunch:
    """resolve_launch with the tiny model standing in for the shipped one."""
    arguments.setdefault("model_path", str(tiny_model))
    return resolve_launch(arguments, CONFIG_DIR, environ={}, rviz_available=False)


def node_problems(values: dict) -> list[str]:
    """What segmentation_node refuses these values for (its checks at start-up)."""
    return [reason for name, value in values.items()
            if (reason := PARAMETERS_BY_NAME[name].check(value))] + combination_problems(values)


def problems_of(tiny_model: Path, **arguments: str) -> str:
    with pytest.raises(LaunchArgumentError) as info:
        resolve(tiny_model, **arguments)
    return str(info.value)


def test_every_argument_is_described_and_its_default_is_allowed():
    assert len({a.name for a in LAUNCH_ARGUMENTS}) == len(LAUNCH_ARGUMENTS)
    for argument in LAUNCH_ARGUMENTS:
        assert len(argument.description) > 30, argument.name
        if argument.choices:
            assert argument.default in argument.choices
        declaration = argument.declaration()
        assert declaration["description"] == argument.description
        assert declaration.get("choices", []) == list(argument.choices)


def test_model_and_dataset_offer_only_what_ships():
    shipped = shipped_model_names()
    model, dataset = la.ARGUMENTS_BY_NAME["model"], la.ARGUMENTS_BY_NAME["dataset"]
    assert {f"{m}_{d}" for m in model.choices for d in dataset.choices} >= set(shipped)
    for m in model.choices:
        assert any(name.startswith(f"{m}_") for name in shipped)
    for name in shipped:
        assert name in model.description


def test_parameter_arguments_reuse_the_node_parameter_descriptions():
    for name in la.PARAMETER_ARGUMENTS:
        assert PARAMETERS_BY_NAME[name].description in la.ARGUMENTS_BY_NAME[name].description


def test_docs_hold_the_generated_arguments_table():
    assert launch_arguments_table() in (ROOT / "docs" / "launch.md").read_text()


def test_defaults_start_the_shipped_model_with_the_default_params_file():
    plan = resolve_launch({}, CONFIG_DIR, environ={})
    assert plan.parameters == {"model_path": str(shipped_model_path())}
    assert plan.params_file == CONFIG_DIR / "segmentation.yaml"
    assert (plan.namespace, plan.image_topic, plan.use_sim_time, plan.rviz) == (
        "/", "camera/image_raw", None, False)  # sim time: what an including launch set
    assert plan.input_topic == "/camera/image_raw"
    assert plan.output_topic("overlay") == "/segmentation_node/overlay"
    assert plan.environment == {}


def test_shipped_pair_picks_its_model_file():
    plan = resolve_launch({"dataset": "synthetic"}, CONFIG_DIR, environ={})
    assert plan.parameters["model_path"] == str(shipped_model_path("fanet", "synthetic"))


def test_model_path_is_resolved_as_the_node_resolves_it():
    """One resolver (shipped_models.resolve_model): a shipped name as model_path is that file,
    a name that is neither a file nor shipped is refused with the node's words."""
    plan = resolve_launch({"model_path": "fanet_camvid"}, CONFIG_DIR, environ={},
                          rviz_available=False)
    assert plan.parameters["model_path"] == str(shipped_models.resolve_model("fanet_camvid"))
    with pytest.raises(LaunchArgumentError, match="'nothing' is neither a file nor a shipped"):
        resolve_launch({"model_path": "nothing"}, CONFIG_DIR, environ={}, rviz_available=False)


def test_use_sim_time_is_set_only_when_asked(tiny_model):
    assert resolve(tiny_model, use_sim_time="true").use_sim_time is True
    assert resolve(tiny_model, use_sim_time="false").use_sim_time is False
    assert resolve(tiny_model).use_sim_time is None  # an including launch's SetParameter holds


def test_arguments_that_are_set_become_node_parameters(tiny_model):
    plan = resolve(tiny_model, input_width="96", input_height="64", gpu_device="3",
                   backend="onnxruntime", precision="fp32", output_resolution="model",
                   image_transport="compressed")
    assert plan.parameters == {"input_width": 96, "input_height": 64, "gpu_device": 3,
                               "backend": "onnxruntime", "precision": "fp32",
                               "output_resolution": "model", "image_transport": "compressed",
                               "model_path": str(tiny_model)}


@pytest.mark.parametrize(("arguments", "expected"), [
    ({"input_width": "abc", "input_height": "64"},
     "input_width:=abc: input_width must be an integer within 0..8192 in steps of 32, not 'abc'"),
    ({"input_width": "100", "input_height": "64"},
     "input_width:=100: input_width must be within 0..8192 in steps of 32, not 100"),
    ({"backend": "cuda"},
     "backend:=cuda: backend must be one of auto, onnxruntime, tensorrt, not 'cuda'"),
    ({"gpu_device": "-1"}, "gpu_device:=-1: gpu_device must be within 0..63, not -1"),
    ({"output_resolution": "full"},
     "output_resolution:=full: output_resolution must be one of input, model, not 'full'"),
    ({"image_transport": "theora"},
     "image_transport:=theora: image_transport must be one of raw, compressed, not 'theora'"),
    ({"input_height": "64"}, "set both input_height and input_width, or neither"),
    ({"backend": "onnxruntime", "precision": "int8"}, "precision int8 is a TensorRT engine"),
])
def test_values_the_node_would_refuse_stop_the_launch(tiny_model, arguments, expected):
    """Checked against the node's own table: the same words as the node's own refusal."""
    assert expected in problems_of(tiny_model, **arguments)
    values = {name: la.parameter_value(name, text) for name, text in arguments.items()}
    assert any(expected.split(": ", 1)[-1] in p for p in node_problems(values))


def test_params_file_values_are_checked_with_the_arguments(tiny_model, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("/**:\n  ros__parameters:\n    backend: cuda\n    input_height: 64\n"
                      "    qos_overrides: {}\n"
                      "other_node:\n  ros__parameters:\n    backend: also_ignored\n")
    message = problems_of(tiny_model, params_file=str(params))
    assert "params_file: backend must be one of auto, onnxruntime, tensorrt, not 'cuda'" in message
    assert "set both input_height and input_width" in message
    assert "also_ignored" not in message
    plan = resolve(tiny_model, params_file=str(params), backend="onnxruntime", input_width="96")
    assert plan.parameters["backend"] == "onnxruntime"  # the argument wins over the file


def test_a_misspelt_parameter_in_the_nodes_own_entry_is_refused(tiny_model, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("/**:\n  ros__parameters:\n    other_nodes_setting: 1\n"
                      "segmentation_node:\n  ros__parameters:\n    output_resolutin: model\n"
                      "    use_sim_time: true\n    qos_overrides: {}\n")
    message = problems_of(tiny_model, params_file=str(params))
    assert (f"params_file '{params}', segmentation_node: segmentation_node has no parameter "
            "'output_resolutin' (did you mean 'output_resolution'?)") in message
    assert "other_nodes_setting" not in message and "use_sim_time" not in message


def test_int8_with_onnxruntime_is_refused_by_the_node_rules():
    problems = combination_problems({"backend": "onnxruntime", "precision": "int8"})
    assert any("precision int8 is a TensorRT engine precision" in p for p in problems)
    assert combination_problems({"backend": "auto", "precision": "int8"}) == []


def test_model_errors_name_the_models_that_ship(tmp_path, monkeypatch):
    for m, d in shipped_pairs():
        assert f"model:={m} dataset:={d}" in la.HOW_TO_GET_A_MODEL
    assert "fsffnet" not in la.HOW_TO_GET_A_MODEL or any(
        name.startswith("fsffnet_") for name in shipped_model_names())
    for name in ("fanet_camvid", "fsffnet_camvid"):  # when fsffnet_camvid ships, it is named
        (tmp_path / f"{name}.onnx").write_bytes(b"")
    monkeypatch.setattr(shipped_models, "models_dir", lambda: tmp_path)
    hint = shipped_models.how_to_get_a_model()
    assert "fanet_camvid: model:=fanet dataset:=camvid" in hint
    assert "fsffnet_camvid: model:=fsffnet dataset:=camvid" in hint


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"model_path": "", "model": "fsffnet", "dataset": "synthetic"},  # a pair never shipped
         "no shipped model for model:=fsffnet dataset:=synthetic; shipped: fanet_camvid"),
        ({"model_path": "/no/such/model.onnx"}, "model_path '/no/such/model.onnx' does not exist"),
        ({"params_file": "/no/such/params.yaml"},
         "params_file '/no/such/params.yaml' does not exist"),
        ({"rviz": "true"}, "rviz:=true but rviz2 is not installed"),
    ],
)
def test_launch_only_checks_name_the_problem(tiny_model, arguments, expected):
    assert expected in problems_of(tiny_model, **arguments)


def test_every_problem_is_reported_at_once(tiny_model):
    message = problems_of(tiny_model, model_path="/missing.onnx", params_file="/missing.yaml",
                          rviz="true")
    assert message.startswith("cannot launch segmentation_node:")
    assert message.count("\n  - ") == 3


def test_unknown_command_line_arguments():
    names = command_line_names(["model:=fanet", "imgae:=/cam", "not-an-argument"])
    assert names == ["model", "imgae"]
    assert unknown_arguments(names, [a.name for a in LAUNCH_ARGUMENTS]) == [
        "unknown argument 'imgae' (see --show-args)"]


@pytest.mark.parametrize(("namespace", "outer", "expected"), [
    ("", None, "/"), ("front", None, "/front"), ("/front/", None, "/front"),
    ("front", "/robot", "/robot/front"), ("/abs", "/robot", "/abs"), ("", "robot", "/robot"),
])
def test_namespaces(namespace, outer, expected):
    assert full_namespace(namespace, outer) == expected


def test_relative_image_topics_resolve_under_the_namespace(tiny_model):
    plan = resolve(tiny_model, namespace="front", image="camera/image_raw")
    assert plan.input_topic == "/front/camera/image_raw"
    assert resolve(tiny_model, namespace="front").input_topic == "/front/camera/image_raw"
    assert resolve(tiny_model, namespace="front", image="/cam").input_topic == "/cam"
    assert plan.output_topic("color") == "/front/segmentation_node/color"


# -- DDS profile ------------------------------------------------------------------

PROFILE = CONFIG_DIR / "fastdds_large_images.xml"


@pytest.mark.parametrize(("distro", "variables"), [
    ("kilted", ["FASTDDS_DEFAULT_PROFILES_FILE"]),
    ("", ["FASTDDS_DEFAULT_PROFILES_FILE"]),
    ("humble", ["FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE"]),
])
def test_dds_profile_sets_the_variable_the_distros_fast_dds_reads(tiny_model, distro, variables):
    plan = resolve_launch({"model_path": str(tiny_model), "dds_profile": "large_images"},
                          CONFIG_DIR, environ={"ROS_DISTRO": distro} if distro else {})
    assert PROFILE.is_file()
    assert plan.environment == {**dict.fromkeys(variables, str(PROFILE)),
                                "RMW_FASTRTPS_USE_QOS_FROM_XML": "1"}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"FASTDDS_DEFAULT_PROFILES_FILE": "/etc/mine.xml"},
         "would replace your FASTDDS_DEFAULT_PROFILES_FILE=/etc/mine.xml"),
        ({"ROS_LOCALHOST_ONLY": "1"}, "ROS_LOCALHOST_ONLY=1 cannot limit to localhost"),
        ({"RMW_FASTRTPS_USE_QOS_FROM_XML": "0"}, "needs RMW_FASTRTPS_USE_QOS_FROM_XML=1"),
    ],
)
def test_dds_profile_refuses_to_undo_the_users_dds_settings(tiny_model, environ, expected):
    with pytest.raises(LaunchArgumentError, match=expected):
        resolve_launch({"model_path": str(tiny_model), "dds_profile": "large_images"},
                       CONFIG_DIR, environ=environ)


NAMESPACES = ["", "front", "robot/front"]
SECTIONS = ["/**", "segmentation_node", "/segmentation_node", "/**/segmentation_node",
            "front/segmentation_node", "/robot/front/segmentation_node", "/*/segmentation_node",
            "/front/*", "/**/front/**", "rear/segmentation_node"]


def _rclpy_reads(params: Path, namespace: str) -> str:
    """The value a real rclpy node named segmentation_node in ``namespace`` gets."""
    import rclpy
    from rclpy.context import Context
    from rclpy.node import Node

    context = Context()
    rclpy.init(args=["node", "--ros-args", "--params-file", str(params)], context=context)
    try:
        node = Node("segmentation_node", namespace=namespace or None, context=context)
        value = node.declare_parameter("image_transport", "raw").value
        node.destroy_node()
        return value
    finally:
        rclpy.shutdown(context=context)


@pytest.mark.parametrize("section", SECTIONS)
def test_the_launch_reads_a_params_file_entry_for_the_names_rclpy_gives_it_to(tmp_path, section):
    """Before: 'segmentation_node:' counted in any namespace, though rcl gives it only to
    /segmentation_node: with namespace:=front the launch checked and used values the node
    never got (the rviz Camera display subscribed to .../compressed, the node to raw)."""
    params = tmp_path / "params.yaml"
    params.write_text(f"{section}:\n  ros__parameters:\n    image_transport: compressed\n")
    for namespace in NAMESPACES:
        values, _ = la.params_file_values(params, namespace)
        assert values.get("image_transport", "raw") == _rclpy_reads(params, namespace), namespace


def test_an_entry_for_the_node_without_a_namespace_is_refused_when_it_has_one(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("segmentation_node:\n  ros__parameters:\n    image_transport: compressed\n")
    _, problems = la.params_file_values(params, "front")
    assert problems == [f"params_file '{params}', segmentation_node: applies to "
                        "/segmentation_node only, not to /front/segmentation_node; name the "
                        "entry /**/segmentation_node (any namespace) or front/segmentation_node"]
    assert la.params_file_values(params, "")[1] == []


NESTED = [
    "front:\n  segmentation_node:\n    ros__parameters:\n      image_transport: compressed\n",
    "/robot:\n  front/segmentation_node:\n    ros__parameters:\n"
    "      image_transport: compressed\n",
    "robot:\n  front:\n    segmentation_node:\n      ros__parameters:\n"
    "        image_transport: compressed\n",
    "/**:\n  segmentation_node:\n    ros__parameters:\n      image_transport: compressed\n",
]


@pytest.mark.parametrize("text", NESTED, ids=["front", "robot-slash", "robot-front", "any"])
def test_the_launch_reads_nested_namespace_entries_as_rclpy_does(tmp_path, text):
    """rcl reads a namespace nested above the node name; the launch skipped such entries, so
    the rviz Camera display stayed raw while the node subscribed to .../compressed."""
    params = tmp_path / "params.yaml"
    params.write_text(text)
    for namespace in NAMESPACES:
        values, _ = la.params_file_values(params, namespace)
        assert values.get("image_transport", "raw") == _rclpy_reads(params, namespace), namespace


def test_cameras_in_the_params_file_of_a_one_camera_launch_is_refused(tiny_model, tmp_path):
    """The node would serve the file's cameras and nothing would read image:=..."""
    params = tmp_path / "params.yaml"
    params.write_text("/**:\n  ros__parameters:\n    cameras: [front, rear]\n")
    message = problems_of(tiny_model, params_file=str(params), image="/my_cam/image_raw")
    assert "sets cameras: ['front', 'rear'], which would replace the camera this node is " \
           "given (image:=/my_cam/image_raw); remove it" in message


@pytest.mark.parametrize("spelling", ["True", "False", "true", "false"])
def test_true_and_false_arguments_take_both_spellings(tiny_model, spelling):
    """Simulation bringups pass use_sim_time:='True'; launch's choices refused it."""
    for name in ("use_sim_time", "rviz", "lifecycle", "autostart"):
        assert spelling in la.ARGUMENTS_BY_NAME[name].choices, name
    plan = resolve(tiny_model, use_sim_time=spelling, lifecycle=spelling)
    assert plan.use_sim_time is (spelling.lower() == "true")
    assert plan.lifecycle is (spelling.lower() == "true")
