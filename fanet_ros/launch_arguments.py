"""What ``segmentation.launch.py`` decides, in plain Python: arguments, checks, parameters, rviz.

The launch files only read their launch configurations and build actions from
:func:`resolve_launch`; every rule lives here so tests exercise it without
``launch`` installed. Node parameter names, defaults and constraints come from
:mod:`fanet_ros.node_parameters`.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from fanet_ros.labels import LABEL_SETS
from fanet_ros.node_parameters import (
    NODE_PARAMETERS,
    PARAMETERS_BY_NAME,
    ParameterSpec,
    validate_parameters,
)
from fanet_ros.runtime.base import HOW_TO_GET_A_MODEL, ModelLoadError
from fanet_ros.runtime.select import BackendConfig, choose_backend
from fanet_ros.shipped_models import (
    DEFAULT_DATASET,
    DEFAULT_MODEL,
    MODEL_NAMES,
    shipped_model_path,
)

NODE_NAME = "segmentation_node"
DEFAULT_IMAGE_TOPIC = "/camera/image_raw"
BOOLEANS = ("true", "false")
DATASETS = tuple(sorted(LABEL_SETS))
RVIZ_TEMPLATE = "segmentation.rviz"
DDS_PROFILES = {"large_images": "fastdds_large_images.xml"}
"""``dds_profile`` choices (besides ``none``) -> Fast DDS profile files in config/."""
DDS_PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
"""Where Fast DDS 3.x and 2.x (Humble) look for a profile file."""

_TOKEN = r"[A-Za-z_][A-Za-z0-9_]*"
_NAMESPACE = re.compile(rf"(/{_TOKEN})+")
_TOPIC = re.compile(rf"/?{_TOKEN}(/{_TOKEN})*")


class LaunchArgumentError(ValueError):
    """The launch arguments cannot start the node; the message lists every problem."""


@dataclass(frozen=True)
class LaunchArgument:
    """One argument of segmentation.launch.py (launch arguments are strings)."""

    name: str
    default: str
    description: str
    choices: tuple[str, ...] = ()
    """Checked by ``DeclareLaunchArgument``; empty for arguments whose default is ''."""

    def declaration(self) -> dict[str, Any]:
        """Keyword arguments of ``launch.actions.DeclareLaunchArgument`` after the name."""
        declaration: dict[str, Any] = {
            "default_value": self.default, "description": self.description
        }
        if self.choices:
            declaration["choices"] = list(self.choices)
        return declaration


def _parameter_argument(name: str) -> LaunchArgument:
    """An argument that overrides the node parameter of the same name."""
    spec = PARAMETERS_BY_NAME[name]
    allowed = f" One of: {', '.join(spec.choices)}." if spec.choices else ""
    return LaunchArgument(
        name, "", f"{spec.description}{allowed} Empty: the params_file value "
        f"(node default {spec.default!r})."
    )


LAUNCH_ARGUMENTS: tuple[LaunchArgument, ...] = (
    LaunchArgument(
        "model", DEFAULT_MODEL, "Network: fanet (fastest) or fsffnet (more accurate). With "
        "dataset, picks the shipped model file and the default params_file.", MODEL_NAMES,
    ),
    LaunchArgument(
        "dataset", DEFAULT_DATASET, "Dataset the model was trained on, which sets the classes "
        "and colours: picks fanet_ros/models/{model}_{dataset}.onnx and "
        "config/{model}_{dataset}.yaml.", DATASETS,
    ),
    LaunchArgument(
        "model_path", "", "ONNX model exported by fanet-export, instead of the shipped "
        "{model}_{dataset}.onnx; classes and colours then come from its metadata.",
    ),
    LaunchArgument(
        "params_file", "", "Node parameter file (ROS 2 YAML, '/**: ros__parameters:'). "
        "Empty: the package's config/{model}_{dataset}.yaml. Arguments set here override it.",
    ),
    _parameter_argument("input_width"),
    _parameter_argument("input_height"),
    _parameter_argument("backend"),
    _parameter_argument("precision"),
    _parameter_argument("gpu_device"),
    LaunchArgument(
        "image", DEFAULT_IMAGE_TOPIC, "Camera topic the node subscribes to (sensor_msgs/Image; "
        "{image}/compressed with image_transport: compressed). Relative names resolve under "
        "namespace.",
    ),
    LaunchArgument(
        "namespace", "", "Namespace of the node and its outputs, e.g. front gives "
        "/front/segmentation_node/overlay.",
    ),
    LaunchArgument(
        "use_sim_time", "false", "Follow /clock (bag playback with --clock).", BOOLEANS
    ),
    LaunchArgument(
        "dds_profile", "none", "Fast DDS profile for the processes this launch starts. "
        "large_images: config/fastdds_large_images.xml, a 32 MiB shared-memory segment so "
        "that camera-sized images are not pushed through Fast DDS's default 512 KiB in pieces "
        "(lower latency, see docs/performance.md; export it for the camera driver too). "
        "none: your environment's settings.", ("none", *DDS_PROFILES),
    ),
    LaunchArgument(
        "rviz", "false", "Start rviz2 showing the camera image, the colour mask and the overlay "
        "(config/segmentation.rviz with its topics moved under namespace).", BOOLEANS,
    ),
)

ARGUMENTS_BY_NAME = {argument.name: argument for argument in LAUNCH_ARGUMENTS}
PARAMETER_ARGUMENTS = ("model_path", "input_width", "input_height", "backend", "precision",
                       "gpu_device")
"""Arguments that override the node parameter of the same name."""


@dataclass(frozen=True)
class SegmentationLaunch:
    """What segmentation.launch.py starts, decided from its arguments."""

    namespace: str
    """Absolute namespace of the node (and of rviz2)."""
    image_topic: str
    """Where ``image`` is remapped to, as given."""
    parameters: dict[str, Any]
    """Every node parameter, typed and validated: params file, then arguments."""
    params_file: Path
    use_sim_time: bool
    rviz: bool
    environment: dict[str, str]
    """Environment variables to set for the node and rviz2 (the DDS profile)."""

    @property
    def node_fqn(self) -> str:
        return node_fqn(self.namespace)

    def output_topic(self, name: str) -> str:
        """The full name of the node's private topic ``~/<name>``."""
        return f"{self.node_fqn}/{name}"

    @property
    def input_topic(self) -> str:
        """The full name of the camera topic the node subscribes to (raw transport)."""
        if self.image_topic.startswith("/"):
            return self.image_topic
        return f"{self.namespace.rstrip('/')}/{self.image_topic}"


def node_fqn(namespace: str) -> str:
    """The node's full name under an absolute ``namespace``."""
    return f"{namespace.rstrip('/')}/{NODE_NAME}"


def parse_parameter(spec: ParameterSpec, text: str) -> Any:
    """A launch argument string as a value of the node parameter's type."""
    kind = type(spec.default)
    if kind is bool:
        if text not in BOOLEANS:
            raise LaunchArgumentError(f"{spec.name} must be true or false, not {text!r}")
        return text == "true"
    if kind is str:
        return text
    try:
        return kind(text.strip())
    except ValueError:
        raise LaunchArgumentError(
            f"{spec.name} must be {'an integer' if kind is int else 'a number'}, not {text!r}"
        ) from None


def coerce_file_value(spec: ParameterSpec, value: Any) -> Any:
    """A parameter-file value as the parameter's type (an int is accepted for a float)."""
    kind = type(spec.default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type(value) is not kind:
        raise LaunchArgumentError(
            f"{spec.name} must be of type {kind.__name__}, not {value!r} "
            f"({type(value).__name__})"
        )
    return value


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested parameter mappings as ROS 2 dotted names (``a: {b: 1}`` is ``a.b``)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def load_params_file(path: Path, node_full_name: str) -> dict[str, Any]:
    """The node's raw parameters from a ROS 2 parameter file.

    Reads the ``/**`` section, then the section named by the node's full name
    (with or without the leading slash), which wins; other sections are ignored.
    """
    if not path.is_file():
        raise LaunchArgumentError(f"params_file '{path}' does not exist")
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise LaunchArgumentError(f"params_file '{path}' is not valid YAML: {exc}") from None
    if not isinstance(document, Mapping):
        raise LaunchArgumentError(
            f"params_file '{path}' must map node names to 'ros__parameters:' sections"
        )
    values: dict[str, Any] = {}
    for section in ("/**", node_full_name.lstrip("/"), node_full_name):
        body = document.get(section)
        if body is None:
            continue
        if not isinstance(body, Mapping) or not isinstance(body.get("ros__parameters"), Mapping):
            raise LaunchArgumentError(
                f"params_file '{path}': section '{section}' needs a 'ros__parameters:' mapping"
            )
        values.update(_flatten(body["ros__parameters"]))
    return values


def file_parameters(path: Path, node_full_name: str) -> tuple[dict[str, Any], list[str]]:
    """Valid, typed node parameters from ``path``, and the problems with the others."""
    values: dict[str, Any] = {}
    problems = []
    for name, value in load_params_file(path, node_full_name).items():
        spec = PARAMETERS_BY_NAME.get(name)
        if spec is None:
            hint = " (use the launch argument use_sim_time)" if name == "use_sim_time" else ""
            problems.append(f"params_file '{path}': unknown parameter '{name}'{hint}")
            continue
        try:
            value = coerce_file_value(spec, value)
        except LaunchArgumentError as exc:
            problems.append(f"params_file '{path}': {exc}")
            continue
        reason = spec.check(value)
        if reason:
            problems.append(f"params_file '{path}': {reason}")
        else:
            values[name] = value
    return values, problems


def full_namespace(namespace: str, outer: str | None = None) -> str:
    """The absolute namespace for ``namespace`` under an ``outer`` (pushed) namespace."""
    text = namespace.strip()
    if not text.startswith("/"):
        text = "/" + "/".join(part for part in ((outer or "").strip("/"), text) if part)
    text = text.rstrip("/")
    if text and not _NAMESPACE.fullmatch(text):
        raise LaunchArgumentError(
            f"namespace {namespace!r} is not a valid ROS namespace: use letters, digits and "
            "underscores, tokens separated by single '/', not starting with a digit"
        )
    return text or "/"


def default_params_file(config_dir: Path, model: str, dataset: str) -> Path:
    return config_dir / f"{model}_{dataset}.yaml"


def resolve_launch(
    arguments: Mapping[str, str],
    config_dir: Path,
    outer_namespace: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> SegmentationLaunch:
    """Turn launch arguments (strings; missing ones take their defaults) into what to start.

    ``config_dir`` holds the package's parameter and profile files;
    ``outer_namespace`` is one pushed by an including launch file; ``environ``
    is the launch's environment (default ``os.environ``). Raises
    :class:`LaunchArgumentError` listing every problem.
    """
    args = {a.name: str(arguments.get(a.name, a.default)) for a in LAUNCH_ARGUMENTS}
    problems: list[str] = []
    for argument in LAUNCH_ARGUMENTS:
        if argument.choices and args[argument.name] not in argument.choices:
            problems.append(
                f"{argument.name} must be one of {', '.join(argument.choices)}, "
                f"not {args[argument.name]!r}"
            )
    if problems:
        raise LaunchArgumentError(_report(problems))
    model, dataset = args["model"], args["dataset"]

    namespace = "/"
    try:
        namespace = full_namespace(args["namespace"], outer_namespace)
    except LaunchArgumentError as exc:
        problems.append(str(exc))
    if not _TOPIC.fullmatch(args["image"]):
        problems.append(f"image {args['image']!r} is not a valid topic name")

    params_file = Path(args["params_file"] or default_params_file(config_dir, model, dataset))
    params_file = params_file.expanduser()
    try:
        values, file_problems = file_parameters(params_file, node_fqn(namespace))
        problems += file_problems
    except LaunchArgumentError as exc:
        values = {}
        problems.append(str(exc))

    for name in PARAMETER_ARGUMENTS:
        if args[name]:
            try:
                values[name] = parse_parameter(PARAMETERS_BY_NAME[name], args[name])
            except LaunchArgumentError as exc:
                problems.append(str(exc))
    values["model_path"], problem = choose_model_path(
        values.get("model_path", ""), model, dataset
    )
    problems += [problem] if problem else []
    parameters = {spec.name: values.get(spec.name, spec.default) for spec in NODE_PARAMETERS}
    problems += validate_parameters(parameters)
    environment, dds_problems = dds_environment(
        args["dds_profile"], config_dir, os.environ if environ is None else environ
    )
    problems += dds_problems
    if not problems:
        problems = backend_problems(parameters)
    if problems:
        raise LaunchArgumentError(_report(problems))
    return SegmentationLaunch(
        namespace=namespace,
        image_topic=args["image"],
        parameters=parameters,
        params_file=params_file,
        use_sim_time=args["use_sim_time"] == "true",
        rviz=args["rviz"] == "true",
        environment=environment,
    )


def dds_environment(
    profile: str, config_dir: Path, environ: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """The variables that select ``dds_profile``'s file, and why they cannot be set."""
    if profile == "none":
        return {}, []
    path = config_dir / DDS_PROFILES[profile]
    problems = []
    if not path.is_file():
        problems.append(f"dds_profile:={profile}: '{path}' is missing (reinstall fanet_ros)")
    for variable in DDS_PROFILE_VARIABLES:
        if environ.get(variable) and Path(environ[variable]) != path:
            problems.append(
                f"dds_profile:={profile} would replace your {variable}={environ[variable]}: "
                f"merge the two profiles into one file, or keep dds_profile:=none"
            )
    if environ.get("ROS_LOCALHOST_ONLY") == "1":
        problems.append(
            f"dds_profile:={profile} adds a UDP transport that ROS_LOCALHOST_ONLY=1 cannot "
            "limit to localhost: use ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST (Jazzy and "
            "later), or keep dds_profile:=none"
        )
    return dict.fromkeys(DDS_PROFILE_VARIABLES, str(path)), problems


def choose_model_path(model_path: str, model: str, dataset: str) -> tuple[str, str | None]:
    """The model file to load (``model_path``, else the shipped one) and why it cannot be."""
    if model_path:
        path = Path(model_path).expanduser()
        if path.is_file():
            return str(path), None
        return str(path), f"model_path '{path}' does not exist. {HOW_TO_GET_A_MODEL}"
    path = shipped_model_path(model, dataset)
    if path.is_file():
        return str(path), None
    return str(path), (
        f"no model file for model:={model} dataset:={dataset}: '{path}' is missing. "
        "Pass model_path:=<your.onnx>, pick a model/dataset pair that ships (see "
        "fanet_ros/models/), or train and export one with `fanet-train` and `fanet-export` "
        "(see the README, section Training)."
    )


def backend_problems(parameters: dict[str, Any]) -> list[str]:
    """Whether the backend can run on this machine, and INT8 calibration for TensorRT."""
    problems = []
    try:
        choice, _ = choose_backend(parameters["backend"], parameters["gpu_device"])
    except ModelLoadError as exc:
        choice, problems = "tensorrt", [str(exc)]
    needs_calibration = parameters["precision"] == "int8" and not parameters[
        "int8_calibration_dir"
    ]
    if choice == "tensorrt" and needs_calibration:
        problems += _int8_calibration_problems(parameters)
    return problems


def _int8_calibration_problems(parameters: dict[str, Any]) -> list[str]:
    """INT8 without calibration images works only from a calibration cache of a past build."""
    from fanet_ros.tensorrt.engines import EngineSpec

    config = BackendConfig(**{
        f.name: Path(parameters[f.name]) if f.name == "model_path" else parameters[f.name]
        for f in fields(BackendConfig)
    })
    try:
        cache = EngineSpec.from_config(config).calibration_cache_path
    except ModelLoadError as exc:
        return [str(exc)]
    if cache.is_file():
        return []
    return [
        "precision int8 on TensorRT needs int8_calibration_dir (a folder of typical camera "
        f"images) or the calibration cache '{cache}' of an earlier build; set "
        "int8_calibration_dir in the params file, or use precision:=fp16"
    ]


def _report(problems: list[str]) -> str:
    return "invalid launch arguments for segmentation.launch.py:\n  - " + "\n  - ".join(problems)


# -- rviz2 ---------------------------------------------------------------------

def rviz_display_topics(plan: SegmentationLaunch) -> dict[str, str]:
    """Topic of each Image display in config/segmentation.rviz, by display name."""
    return {
        "Camera": plan.input_topic,
        "Colour mask": plan.output_topic("color"),
        "Overlay": plan.output_topic("overlay"),
    }


def image_displays(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``rviz_default_plugins/Image`` displays of a parsed rviz2 config."""
    displays = config["Visualization Manager"]["Displays"]
    return [d for d in displays if d.get("Class") == "rviz_default_plugins/Image"]


def namespaced_rviz_config(template_text: str, plan: SegmentationLaunch) -> str:
    """The rviz2 config with each Image display's topic set for ``plan``'s namespace."""
    config = yaml.safe_load(template_text)
    topics = rviz_display_topics(plan)
    displays = image_displays(config)
    missing = set(topics) - {d.get("Name") for d in displays}
    if missing:
        raise ValueError(f"rviz config has no Image display named {', '.join(sorted(missing))}")
    for display in displays:
        if display.get("Name") in topics:
            display["Topic"]["Value"] = topics[display["Name"]]
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


def write_rviz_config(template: Path, plan: SegmentationLaunch) -> Path:
    """Write the namespaced rviz2 config to a temporary file and return its path."""
    slug = plan.namespace.strip("/").replace("/", "_") or "root"
    with tempfile.NamedTemporaryFile(
        "w", prefix=f"fanet_ros_{slug}_", suffix=".rviz", delete=False
    ) as handle:
        handle.write(namespaced_rviz_config(template.read_text(), plan))
    return Path(handle.name)


# -- documentation ---------------------------------------------------------------

def launch_arguments_table() -> str:
    """The launch arguments as a Markdown table (docs/launch.md embeds it)."""
    rows = ["| argument | default | description |", "|---|---|---|"]
    for argument in LAUNCH_ARGUMENTS:
        default = f"`{argument.default}`" if argument.default else "(empty)"
        choices = f" Choices: {', '.join(argument.choices)}." if argument.choices else ""
        rows.append(f"| `{argument.name}` | {default} | {argument.description}{choices} |")
    return "\n".join(rows) + "\n"
