"""segmentation.launch.py's logic without launch: arguments -> node parameters, and the checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import fanet_ros.launch_arguments as la
from fanet_ros.launch_arguments import (
    LAUNCH_ARGUMENTS,
    LaunchArgumentError,
    full_namespace,
    launch_arguments_table,
    parse_parameter,
    resolve_launch,
)
from fanet_ros.node_parameters import PARAMETERS_BY_NAME
from fanet_ros.runtime.select import BackendConfig, choose_backend
from fanet_ros.tensorrt.availability import tensorrt_status
from fanet_ros.tensorrt.engines import EngineSpec

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config"


def resolve(tiny_model: Path, **arguments: str) -> la.SegmentationLaunch:
    """resolve_launch with the tiny model standing in for the shipped one."""
    arguments.setdefault("model_path", str(tiny_model))
    return resolve_launch(arguments, CONFIG_DIR)


def problems_of(tiny_model: Path, **arguments: str) -> str:
    with pytest.raises(LaunchArgumentError) as info:
        resolve(tiny_model, **arguments)
    return str(info.value)


def write_params(path: Path, **values: object) -> Path:
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": values}}))
    return path


# -- declarations ---------------------------------------------------------------

def test_every_argument_is_described_and_its_default_is_allowed():
    assert len({a.name for a in LAUNCH_ARGUMENTS}) == len(LAUNCH_ARGUMENTS)
    for argument in LAUNCH_ARGUMENTS:
        assert len(argument.description) > 30, argument.name
        if argument.choices:
            assert argument.default in argument.choices
        declaration = argument.declaration()
        assert declaration["description"] == argument.description
        assert declaration.get("choices", []) == list(argument.choices)


def test_parameter_arguments_reuse_the_node_parameter_descriptions():
    for name in la.PARAMETER_ARGUMENTS:
        spec = PARAMETERS_BY_NAME[name]
        assert name in la.ARGUMENTS_BY_NAME
        if name != "model_path":
            assert spec.description in la.ARGUMENTS_BY_NAME[name].description


def test_docs_hold_the_generated_arguments_table():
    assert launch_arguments_table() in (ROOT / "docs" / "launch.md").read_text()


# -- arguments -> what starts ---------------------------------------------------

def test_defaults_start_the_node_with_the_camvid_params_file(tiny_model):
    plan = resolve(tiny_model)
    file_values = yaml.safe_load((CONFIG_DIR / "fanet_camvid.yaml").read_text())
    expected = {
        spec.name: spec.default for spec in PARAMETERS_BY_NAME.values()
    } | file_values["/**"]["ros__parameters"] | {"model_path": str(tiny_model)}
    assert plan.parameters == expected
    assert plan.params_file == CONFIG_DIR / "fanet_camvid.yaml"
    assert (plan.namespace, plan.image_topic, plan.use_sim_time, plan.rviz) == (
        "/", "/camera/image_raw", False, False
    )
    assert plan.output_topic("overlay") == "/segmentation_node/overlay"


@pytest.mark.parametrize(
    ("arguments", "parameter", "value"),
    [
        ({"input_width": "96", "input_height": "64"}, "input_width", 96),
        ({"input_width": "96", "input_height": "64"}, "input_height", 64),
        ({"gpu_device": "3"}, "gpu_device", 3),
        ({"backend": "onnxruntime"}, "backend", "onnxruntime"),
        ({"precision": "fp32"}, "precision", "fp32"),
    ],
)
def test_arguments_become_typed_node_parameters(tiny_model, arguments, parameter, value):
    assert resolve(tiny_model, **arguments).parameters[parameter] == value


def test_model_and_dataset_pick_the_params_file(tiny_model):
    plan = resolve(tiny_model, model="fsffnet", dataset="cityscapes")
    assert plan.params_file == CONFIG_DIR / "fsffnet_cityscapes.yaml"


def test_model_and_dataset_pick_the_shipped_model(tmp_path, tiny_model, monkeypatch):
    shipped = tmp_path / "fsffnet_bdd100k.onnx"
    shipped.write_bytes(tiny_model.read_bytes())
    monkeypatch.setattr(la, "shipped_model_path", lambda m, d: tmp_path / f"{m}_{d}.onnx")
    plan = resolve_launch({"model": "fsffnet", "dataset": "bdd100k"}, CONFIG_DIR)
    assert plan.parameters["model_path"] == str(shipped)


def test_missing_shipped_model_names_the_file_and_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setattr(la, "shipped_model_path", lambda m, d: tmp_path / f"{m}_{d}.onnx")
    with pytest.raises(LaunchArgumentError) as info:
        resolve_launch({"model": "fsffnet", "dataset": "cityscapes"}, CONFIG_DIR)
    message = str(info.value)
    assert str(tmp_path / "fsffnet_cityscapes.onnx") in message
    assert "model_path:=" in message and "fanet-export" in message


def test_switches_namespace_and_image(tiny_model):
    plan = resolve(tiny_model, use_sim_time="true", rviz="true", namespace="front",
                   image="camera/image_raw")
    assert (plan.use_sim_time, plan.rviz, plan.namespace) == (True, True, "/front")
    assert plan.node_fqn == "/front/segmentation_node"
    assert plan.image_topic == "camera/image_raw"
    assert plan.input_topic == "/front/camera/image_raw"
    assert resolve(tiny_model, namespace="front", image="/cam").input_topic == "/cam"


def test_arguments_override_the_params_file_and_unset_ones_keep_it(tmp_path, tiny_model):
    params = write_params(tmp_path / "p.yaml", backend="onnxruntime", overlay_alpha=1,
                          output_resolution="model", gpu_device=2)
    plan = resolve(tiny_model, params_file=str(params), gpu_device="1")
    assert plan.params_file == params
    assert plan.parameters["backend"] == "onnxruntime"
    assert plan.parameters["gpu_device"] == 1
    assert plan.parameters["output_resolution"] == "model"
    assert plan.parameters["overlay_alpha"] == 1.0
    assert isinstance(plan.parameters["overlay_alpha"], float)


def test_params_file_section_for_the_node_wins_over_the_wildcard(tmp_path, tiny_model):
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump({
        "/**": {"ros__parameters": {"num_threads": 1, "overlay_alpha": 0.2}},
        "/front/segmentation_node": {"ros__parameters": {"num_threads": 2}},
        "/rear/segmentation_node": {"ros__parameters": {"num_threads": 3}},
    }))
    plan = resolve(tiny_model, params_file=str(params), namespace="front")
    assert (plan.parameters["num_threads"], plan.parameters["overlay_alpha"]) == (2, 0.2)


@pytest.mark.parametrize(
    ("namespace", "outer", "expected"),
    [
        ("", None, "/"),
        ("/", None, "/"),
        ("front", None, "/front"),
        ("/front/", None, "/front"),
        ("robot1/front", None, "/robot1/front"),
        ("front", "/robot1", "/robot1/front"),
        ("front", "robot1", "/robot1/front"),
        ("/front", "/robot1", "/front"),
        ("", "/robot1", "/robot1"),
    ],
)
def test_namespaces(namespace, outer, expected):
    assert full_namespace(namespace, outer) == expected


def test_strings_convert_to_the_parameter_type():
    assert parse_parameter(PARAMETERS_BY_NAME["overlay_alpha"], "0.25") == 0.25
    assert parse_parameter(PARAMETERS_BY_NAME["build_only"], "true") is True
    assert parse_parameter(PARAMETERS_BY_NAME["workspace_mb"], " 2048 ") == 2048
    with pytest.raises(LaunchArgumentError, match="build_only must be true or false"):
        parse_parameter(PARAMETERS_BY_NAME["build_only"], "yes")


# -- invalid arguments fail at launch, each with its reason -----------------------

@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"model": "unet"}, "model must be one of fanet, fsffnet, not 'unet'"),
        ({"dataset": "kitti"}, "dataset must be one of bdd100k, camvid, cityscapes"),
        ({"rviz": "yes"}, "rviz must be one of true, false"),
        ({"use_sim_time": "1"}, "use_sim_time must be one of true, false"),
        ({"input_width": "100", "input_height": "64"},
         "input_width must be within 0..8192 in steps of 32"),
        ({"input_width": "96"}, "set both input_height and input_width, or neither"),
        ({"input_width": "wide", "input_height": "64"},
         "input_width must be an integer, not 'wide'"),
        ({"gpu_device": "-1"}, "gpu_device must be within 0..63, not -1"),
        ({"backend": "cuda"}, "backend must be one of auto, onnxruntime, tensorrt, not 'cuda'"),
        ({"precision": "int8", "backend": "tensorrt"},
         "precision int8 on TensorRT needs int8_calibration_dir"),
        ({"precision": "bf16"}, "precision must be one of fp32, fp16, int8"),
        ({"model_path": "/no/such/model.onnx"}, "model_path '/no/such/model.onnx' does not exist"),
        ({"params_file": "/no/such/params.yaml"},
         "params_file '/no/such/params.yaml' does not exist"),
        ({"namespace": "front camera"}, "namespace 'front camera' is not a valid ROS namespace"),
        ({"namespace": "2nd"}, "namespace '2nd' is not a valid ROS namespace"),
        ({"image": "camera//image"}, "image 'camera//image' is not a valid topic name"),
    ],
)
def test_invalid_arguments_fail_with_the_reason(tiny_model, arguments, expected):
    assert expected in problems_of(tiny_model, **arguments)


INT8_PROBLEM = "precision int8 on TensorRT needs int8_calibration_dir"


def launch_problems(tiny_model: Path, **arguments: str) -> str:
    """The launch error message, or '' when the arguments are accepted."""
    try:
        resolve(tiny_model, **arguments)
    except LaunchArgumentError as exc:
        return str(exc)
    return ""


def test_tensorrt_that_cannot_run_here_fails_at_launch(tiny_model):
    usable, why = tensorrt_status(0)
    message = launch_problems(tiny_model, backend="tensorrt")
    assert (message == "") == usable
    if not usable:
        assert f"backend 'tensorrt' was requested but {why}" in message


def test_int8_is_accepted_with_calibration_images_or_a_calibration_cache(tmp_path, tiny_model):
    images = write_params(tmp_path / "images.yaml", int8_calibration_dir=str(tmp_path))
    assert INT8_PROBLEM not in launch_problems(
        tiny_model, precision="int8", backend="tensorrt", params_file=str(images)
    )
    cache_dir = tmp_path / "engines"
    cached = write_params(tmp_path / "cached.yaml", engine_cache_dir=str(cache_dir))
    assert INT8_PROBLEM in launch_problems(
        tiny_model, precision="int8", backend="tensorrt", params_file=str(cached)
    )
    config = BackendConfig(model_path=tiny_model, precision="int8",
                           engine_cache_dir=str(cache_dir))
    calibration_cache = EngineSpec.from_config(config).calibration_cache_path
    calibration_cache.parent.mkdir(parents=True)
    calibration_cache.write_bytes(b"scales")
    assert INT8_PROBLEM not in launch_problems(
        tiny_model, precision="int8", backend="tensorrt", params_file=str(cached)
    )


def test_int8_matters_only_where_tensorrt_runs(tiny_model):
    assert launch_problems(tiny_model, precision="int8", backend="onnxruntime") == ""
    auto_choice, _ = choose_backend("auto")
    assert (INT8_PROBLEM in launch_problems(tiny_model, precision="int8")) == (
        auto_choice == "tensorrt"
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"/**": {"ros__parameters": {"overlay_alpa": 0.3}}}, "unknown parameter 'overlay_alpa'"),
        ({"/**": {"ros__parameters": {"use_sim_time": True}}},
         "use the launch argument use_sim_time"),
        ({"/**": {"ros__parameters": {"input_width": "wide"}}}, "input_width must be of type int"),
        ({"/**": {"ros__parameters": {"overlay_alpha": 2.0}}},
         "overlay_alpha must be within 0.0..1.0"),
        ({"/**": {"num_threads": 2}}, "section '/**' needs a 'ros__parameters:' mapping"),
        (["not", "a", "mapping"], "must map node names to 'ros__parameters:' sections"),
    ],
)
def test_bad_params_files_name_the_file_and_the_key(tmp_path, tiny_model, content, expected):
    params = tmp_path / "bad.yaml"
    params.write_text(yaml.safe_dump(content))
    message = problems_of(tiny_model, params_file=str(params))
    assert expected in message and str(params) in message


def test_every_problem_is_reported_at_once(tiny_model):
    message = problems_of(tiny_model, gpu_device="-2", input_width="33", namespace="a b",
                          model_path="/missing.onnx")
    assert message.startswith("invalid launch arguments for segmentation.launch.py:")
    assert message.count("\n  - ") == 5


# -- DDS profile ------------------------------------------------------------------


def test_dds_profile_none_leaves_the_environment_alone(tiny_model):
    assert resolve(tiny_model).environment == {}


def test_dds_profile_large_images_points_fast_dds_2_and_3_at_the_shipped_file(tiny_model):
    plan = resolve_launch({"model_path": str(tiny_model), "dds_profile": "large_images"},
                          CONFIG_DIR, environ={})
    profile = CONFIG_DIR / "fastdds_large_images.xml"
    assert profile.is_file()
    assert plan.environment == {"FASTDDS_DEFAULT_PROFILES_FILE": str(profile),
                                "FASTRTPS_DEFAULT_PROFILES_FILE": str(profile)}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"FASTDDS_DEFAULT_PROFILES_FILE": "/etc/mine.xml"},
         "would replace your FASTDDS_DEFAULT_PROFILES_FILE=/etc/mine.xml"),
        ({"ROS_LOCALHOST_ONLY": "1"}, "ROS_LOCALHOST_ONLY=1 cannot limit to localhost"),
    ],
)
def test_dds_profile_refuses_to_undo_the_users_dds_settings(tiny_model, environ, expected):
    with pytest.raises(LaunchArgumentError, match=expected):
        resolve_launch({"model_path": str(tiny_model), "dds_profile": "large_images"},
                       CONFIG_DIR, environ=environ)
