"""What the launch files decide, in plain Python: arguments, the model file, rviz topics.

The launch layer declares arguments, picks the model file, and starts the node
(and rviz2). Before anything starts it refuses, listing every problem at once:
unknown arguments, parameter values the node would refuse (checked against the
node's own table, fanet_ros.node.node_parameters, for the arguments and the params
file), a model or params file that does not exist, rviz2 asked for but missing,
and a DDS profile that would undo the user's settings.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fanet_ros.node.node_parameters import (
    MODEL_PARAMETERS,
    PARAMETERS_BY_NAME,
    combination_problems,
)
from fanet_ros.runtime.base import HOW_TO_GET_A_MODEL
from fanet_ros.shipped_models import (
    DEFAULT_DATASET,
    DEFAULT_MODEL,
    ModelLoadError,
    resolve_model,
    shipped_model_names,
    shipped_model_path,
    shipped_pairs,
)

NODE_NAME = "segmentation_node"
DEFAULT_IMAGE_TOPIC = "camera/image_raw"
"""Relative, so that ``namespace:=front`` listens on ``/front/camera/image_raw``."""
BOOLEANS = ("true", "false", "True", "False")
"""Choices of a true/false argument: launch's conditions read both spellings, and
simulation bringups pass ``use_sim_time:=True``."""
PARAMS_FILE = "segmentation.yaml"
RVIZ_TEMPLATE = "segmentation.rviz"
DDS_PROFILES = {"large_images": "fastdds_large_images.xml"}
"""``dds_profile`` choices (besides ``none``) -> Fast DDS profile files in config/."""
DDS_PROFILE_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")
"""Where Fast DDS 3.x (Kilted and later) and 2.x (Humble, Jazzy) look for a profile file."""
QOS_FROM_XML = "RMW_FASTRTPS_USE_QOS_FROM_XML"
"""1: rmw_fastrtps takes the history memory policy and publish mode from the profile."""
FAST_DDS_2_DISTROS = ("humble", "jazzy")


def is_true(text: str) -> bool:
    """A true/false launch argument's value (either spelling)."""
    return text.lower() == "true"


class LaunchArgumentError(ValueError):
    """The launch cannot start; the message lists every problem."""


@dataclass(frozen=True)
class LaunchArgument:
    """One launch argument (launch arguments are strings)."""

    name: str
    default: str
    description: str
    choices: tuple[str, ...] = ()

    def declaration(self) -> dict[str, Any]:
        """Keyword arguments of ``launch.actions.DeclareLaunchArgument`` after the name."""
        declaration: dict[str, Any] = {"default_value": self.default,
                                       "description": self.description}
        if self.choices:
            declaration["choices"] = list(self.choices)
        return declaration


PARAMETER_ARGUMENTS = ("input_width", "input_height", "backend", "precision", "gpu_device",
                       "output_resolution", "image_transport")
"""Arguments that, when set, override the node parameter of the same name."""


def _parameter_argument(name: str) -> LaunchArgument:
    spec = PARAMETERS_BY_NAME[name]
    allowed = f" One of: {', '.join(spec.choices)}." if spec.choices else ""
    return LaunchArgument(name, "", f"{spec.description}{allowed} Empty: the params_file value "
                          f"(node default {spec.default!r}).")


def _shipped(index: int) -> tuple[str, ...]:
    return tuple(sorted({pair[index] for pair in shipped_pairs()}))


LAUNCH_ARGUMENTS: tuple[LaunchArgument, ...] = (
    LaunchArgument("model", DEFAULT_MODEL, "Network of the shipped model to run (shipped: "
                   f"{', '.join(shipped_model_names())}).", _shipped(0)),
    LaunchArgument("dataset", DEFAULT_DATASET, "Dataset of the shipped model, which sets the "
                   "classes and colours: runs fanet_ros/models/{model}_{dataset}.onnx.",
                   _shipped(1)),
    LaunchArgument("model_path", "", "ONNX model exported by fanet-export, instead of a shipped "
                   "one (it wins over model_path in a params_file); classes and colours come "
                   "from its metadata."),
    LaunchArgument("params_file", "", f"Node parameter file (ROS 2 YAML). Empty: the package's "
                   f"config/{PARAMS_FILE} (the node's defaults). Arguments set here override it."),
    *(_parameter_argument(name) for name in PARAMETER_ARGUMENTS),
    LaunchArgument("image", DEFAULT_IMAGE_TOPIC, "Camera topic the node subscribes to "
                   "(sensor_msgs/Image; {image}/compressed with image_transport: compressed; "
                   "camera_info beside it). Relative names (the default) resolve under namespace: "
                   "namespace:=front listens on /front/camera/image_raw."),
    LaunchArgument("namespace", "", "Namespace of the node and its outputs, e.g. front gives "
                   "/front/segmentation_node/overlay."),
    LaunchArgument("use_sim_time", "", "Follow /clock (bag playback with --clock). Empty: "
                   "what a launch file including this one set (SetParameter), else false.",
                   ("", *BOOLEANS)),
    LaunchArgument("dds_profile", "none", "Fast DDS profile for the processes this launch "
                   "starts. large_images: config/fastdds_large_images.xml, a 32 MiB "
                   "shared-memory segment so that camera-sized images are not pushed through "
                   "Fast DDS's default 512 KiB in pieces (see docs/performance.md; export it "
                   "for the camera driver too). none: your environment's settings.",
                   ("none", *DDS_PROFILES)),
    LaunchArgument("rviz", "false", "Start rviz2 showing the camera image, the colour mask and "
                   "the overlay (config/segmentation.rviz, topics moved under namespace).",
                   BOOLEANS),
    LaunchArgument("lifecycle", "false", "true: start segmentation_lifecycle_node, the same "
                   "node as a managed (lifecycle) node (docs/node.md).", BOOLEANS),
    LaunchArgument("autostart", "true", "With lifecycle:=true: the launch configures and "
                   "activates the node (a failed configure stops the launch it was given to, "
                   "and is logged in a bringup that includes it); false: it stays "
                   "unconfigured for your lifecycle manager.", BOOLEANS),
)
ARGUMENTS_BY_NAME = {argument.name: argument for argument in LAUNCH_ARGUMENTS}


@dataclass(frozen=True)
class SegmentationLaunch:
    """What segmentation.launch.py starts, decided from its arguments."""

    namespace: str
    """Absolute namespace of the node (and of rviz2)."""
    image_topic: str
    params_file: Path
    parameters: dict[str, Any]
    """Node parameters set by arguments (applied after ``params_file``); always model_path."""
    use_sim_time: bool | None
    """None: not set here, so the node and rviz2 take what an enclosing launch set."""
    rviz: bool
    environment: dict[str, str]
    """Environment variables for the node and rviz2 (the DDS profile)."""
    camera: str = ""
    """The camera's name in a node serving several (its ``cameras`` parameter); ``""``: the
    node's only camera."""
    image_transport: str = "raw"
    """The node's ``image_transport`` (from the argument, else the params file)."""
    input_reliability: str = "auto"
    """The node's ``input_reliability`` (from the params file): rviz2's Camera display
    subscribes to the camera the same way."""
    lifecycle: bool = False
    """segmentation_lifecycle_node instead of segmentation_node."""
    autostart: bool = True
    """With :attr:`lifecycle`: configure and activate it from the launch."""

    @property
    def node_fqn(self) -> str:
        return f"{self.namespace.rstrip('/')}/{NODE_NAME}"

    @property
    def image_remap(self) -> tuple[str, str]:
        """The node's image topic (``image``, ``<camera>/image``) -> :attr:`image_topic`."""
        return (f"{self.camera}/image" if self.camera else "image", self.image_topic)

    def output_topic(self, name: str) -> str:
        """The full name of the node's private topic ``~/<name>`` (``~/<camera>/<name>``)."""
        return f"{self.node_fqn}/{self.camera + '/' if self.camera else ''}{name}"

    @property
    def input_topic(self) -> str:
        """The full name of the camera topic the node subscribes to (raw transport)."""
        if self.image_topic.startswith("/"):
            return self.image_topic
        return f"{self.namespace.rstrip('/')}/{self.image_topic}"


def command_line_names(argv: Iterable[str]) -> list[str]:
    """The argument names of ``name:=value`` items (as ``ros2 launch`` passes them)."""
    return [item.split(":=", 1)[0] for item in argv if ":=" in item]


def unknown_arguments(given: Iterable[str], declared: Iterable[str]) -> list[str]:
    """A problem per given argument name that the launch file does not declare."""
    known = set(declared)
    return [f"unknown argument '{name}' (see --show-args)" for name in given if name not in known]


def full_namespace(namespace: str, outer: str | None = None) -> str:
    """The absolute namespace for ``namespace`` under an ``outer`` (pushed) namespace."""
    text = namespace.strip()
    if not text.startswith("/"):
        text = "/" + "/".join(part for part in ((outer or "").strip("/"), text) if part)
    return text.rstrip("/") or "/"


def parameter_value(name: str, text: str) -> Any:
    """A launch argument as the YAML value the node gets (the node checks it)."""
    if isinstance(PARAMETERS_BY_NAME[name].default, str):
        return text
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def resolve_launch(
    arguments: Mapping[str, str],
    config_dir: Path,
    outer_namespace: str | None = None,
    environ: Mapping[str, str] | None = None,
    rviz_available: bool | None = None,
    camera: str = "",
) -> SegmentationLaunch:
    """Launch arguments (strings; missing ones take their defaults) -> what to start.

    Raises :class:`LaunchArgumentError` listing every problem launch alone can see.
    ``rviz_available``: ``None`` looks rviz2 up in the ament index. ``camera``: the camera's
    name when one node serves several (:attr:`SegmentationLaunch.camera`).
    """
    args = {a.name: str(arguments.get(a.name, a.default)) for a in LAUNCH_ARGUMENTS}
    environ = os.environ if environ is None else environ
    problems = []
    model_path, problem = choose_model_path(args["model_path"], args["model"], args["dataset"])
    problems += [problem] if problem else []
    namespace = full_namespace(args["namespace"], outer_namespace)
    params_file = Path(args["params_file"] or config_dir / PARAMS_FILE).expanduser()
    file_values: dict[str, Any] = {}
    if not params_file.is_file():
        problems.append(f"params_file '{params_file}' does not exist")
    else:
        file_values, file_problems = params_file_values(params_file, namespace)
        problems += file_problems
        if file_values.get("cameras") and not camera:
            problems.append(
                f"params_file '{params_file}' sets cameras: {file_values['cameras']}, which "
                f"would replace the camera this node is given (image:={args['image']}); remove "
                "it: the launch files set cameras themselves (multi_camera.launch.py with "
                "one_node:=true for one node serving several cameras)")
    parameters: dict[str, Any] = {
        name: parameter_value(name, args[name]) for name in PARAMETER_ARGUMENTS if args[name]
    }
    problems += parameter_problems(args, parameters, file_values)
    parameters["model_path"] = model_path
    environment, dds_problems = dds_environment(args["dds_profile"], config_dir, environ)
    problems += dds_problems
    rviz = is_true(args["rviz"])
    if rviz and not (rviz_installed() if rviz_available is None else rviz_available):
        problems.append("rviz:=true but rviz2 is not installed (apt install "
                        f"ros-{environ.get('ROS_DISTRO', '<distro>')}-rviz2), or leave rviz:=false")
    if problems:
        raise LaunchArgumentError(report(problems))
    return SegmentationLaunch(
        namespace=namespace,
        image_topic=args["image"], params_file=params_file, parameters=parameters,
        use_sim_time=is_true(args["use_sim_time"]) if args["use_sim_time"] else None, rviz=rviz,
        environment=environment,
        camera=camera, image_transport=parameters.get("image_transport", file_values.get(
            "image_transport", PARAMETERS_BY_NAME["image_transport"].default)),
        input_reliability=file_values.get("input_reliability",
                                          PARAMETERS_BY_NAME["input_reliability"].default),
        lifecycle=is_true(args["lifecycle"]), autostart=is_true(args["autostart"]),
    )


def parameter_problems(
    texts: Mapping[str, str], parameters: Mapping[str, Any], file_values: Mapping[str, Any]
) -> list[str]:
    """What the node would refuse, by its own parameter table: each argument that is set
    (``texts`` as typed), each value of the params file, then their combination."""
    problems = [
        f"{name}:={texts[name]}: {reason}" for name, value in parameters.items()
        if (reason := PARAMETERS_BY_NAME[name].check(value))
    ]
    problems += [
        f"params_file: {reason}" for name, value in file_values.items()
        if name not in parameters and (reason := PARAMETERS_BY_NAME[name].check(value))
    ]
    return problems + combination_problems({**file_values, **parameters})


NODE_OWN_PARAMETERS = ("qos_overrides", "use_sim_time", "start_type_description_service",
                       *MODEL_PARAMETERS)
"""Parameters the node has beside its table: rclpy's, QoS overrides and the model's classes."""


def params_file_values(path: Path, namespace: str) -> tuple[dict[str, Any], list[str]]:
    """The node's parameters in a ROS 2 params file, and why it cannot be read.

    Reads the entries whose node name matches this node's full name as rcl matches it
    (``/**``, ``segmentation_node`` without a namespace, ``/**/segmentation_node``,
    ``front/segmentation_node``, ``*`` for one name). A name the node does not have is refused
    in the entries that name ``segmentation_node`` (a misspelling the node would ignore) and
    left alone under wildcards, which other nodes read too. An entry for the node without a
    namespace, read by none when this one has one, is refused with the names that work.
    """
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        return {}, [f"params_file '{path}' cannot be read: {exc}"]
    if not isinstance(data, dict):
        return {}, [f"params_file '{path}' is not a ROS 2 parameters file "
                    "(<node name>: ros__parameters: <name>: <value>)"]
    fqn = f"{namespace.strip('/')}/{NODE_NAME}".strip("/").split("/")
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, given in params_file_entries(data):
        section = key.strip("/").split("/")
        names_this_node = section[-1] == NODE_NAME  # not a wildcard other nodes read too
        if not _node_name_matches(section, fqn):
            if names_this_node and len(section) == 1 and len(fqn) > 1:
                problems.append(
                    f"params_file '{path}', {key}: applies to /{NODE_NAME} only, not to "
                    f"/{'/'.join(fqn)}; name the entry /**/{NODE_NAME} (any namespace) or "
                    f"{'/'.join(fqn)}")
            continue
        values.update({name: value for name, value in given.items() if name in PARAMETERS_BY_NAME})
        if names_this_node:
            problems += [unknown_parameter(path, key, str(name)) for name in given
                         if name not in PARAMETERS_BY_NAME and name not in NODE_OWN_PARAMETERS]
    return values, problems


def params_file_entries(data: Mapping[Any, Any], prefix: str = ""
                        ) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(node name, its ros__parameters)`` of each entry, nested namespaces joined with ``/``
    as rcl reads them (``front: {segmentation_node: {ros__parameters: ...}}`` is
    ``front/segmentation_node``)."""
    for key, entry in data.items():
        if not isinstance(entry, dict):
            continue
        name = f"{prefix}/{str(key).strip('/')}" if prefix else str(key)
        if isinstance(entry.get("ros__parameters"), dict):
            yield name, entry["ros__parameters"]
        else:
            yield from params_file_entries(entry, name)


def _node_name_matches(pattern: list[str], name: list[str]) -> bool:
    """rcl's match of a params file's node name (split at ``/``) with a full node name: ``**``
    stands for any number of names, ``*`` for one; a ``*`` inside a name is literal."""
    if not pattern:
        return not name
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_node_name_matches(rest, name[i:]) for i in range(len(name) + 1))
    return bool(name) and head in ("*", name[0]) and _node_name_matches(rest, name[1:])


def unknown_parameter(path: Path, section: object, name: str) -> str:
    close = difflib.get_close_matches(name, [*PARAMETERS_BY_NAME, *NODE_OWN_PARAMETERS], n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return (f"params_file '{path}', {section}: {NODE_NAME} has no parameter '{name}'{hint}; "
            "the node would ignore it")


def choose_model_path(model_path: str, model: str, dataset: str) -> tuple[str, str | None]:
    """The model file to load and why it cannot be: ``model_path`` (a file, or a shipped name
    such as ``fanet_camvid``, as the node reads it), else the shipped ``{model}_{dataset}``.
    Both go through the one resolver, :func:`fanet_ros.shipped_models.resolve_model`."""
    try:
        path = resolve_model(model_path or f"{model}_{dataset}")
    except ModelLoadError as exc:
        if model_path:
            return model_path, str(exc)
        return str(shipped_model_path(model, dataset)), (
            f"no shipped model for model:={model} dataset:={dataset}; shipped: "
            f"{', '.join(shipped_model_names()) or 'none'}. Pass model_path:=<your.onnx> for "
            "another (train and export one with `fanet-train` and `fanet-export`)."
        )
    if path.is_file():
        return str(path), None
    return str(path), f"model_path '{path}' does not exist. {HOW_TO_GET_A_MODEL}"


def dds_environment(
    profile: str, config_dir: Path, environ: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """The variables that select ``dds_profile``'s file, and why they cannot be set.

    Fast DDS 3 (Kilted and later) reads FASTDDS_DEFAULT_PROFILES_FILE and warns about the
    old name, which Fast DDS 2 (Humble, Jazzy) needs: that one is set on those distros only.
    """
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
                "merge the two profiles into one file, or keep dds_profile:=none"
            )
    if environ.get("ROS_LOCALHOST_ONLY") == "1":
        problems.append(
            f"dds_profile:={profile} adds a UDP transport that ROS_LOCALHOST_ONLY=1 cannot "
            "limit to localhost: use ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST (Jazzy and "
            "later), or keep dds_profile:=none"
        )
    if environ.get(QOS_FROM_XML, "1") != "1":
        problems.append(f"dds_profile:={profile} needs {QOS_FROM_XML}=1 (its history memory "
                        f"policy), not your {environ[QOS_FROM_XML]}; or keep dds_profile:=none")
    return {**dict.fromkeys(profile_variables(environ), str(path)), QOS_FROM_XML: "1"}, problems


def profile_variables(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The profile-file variables the installed Fast DDS reads (by ``ROS_DISTRO``)."""
    if environ.get("ROS_DISTRO", "") in FAST_DDS_2_DISTROS:
        return DDS_PROFILE_VARIABLES
    return DDS_PROFILE_VARIABLES[:1]


def rviz_installed() -> bool:
    """Whether launch_ros can find the rviz2 executable (package rviz2 in the ament index)."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_prefix
    except ImportError:
        return False
    try:
        return (Path(get_package_prefix("rviz2")) / "lib" / "rviz2" / "rviz2").is_file()
    except (PackageNotFoundError, OSError):  # OSError: AMENT_PREFIX_PATH unset
        return False


def report(problems: list[str]) -> str:
    return "cannot launch segmentation_node:\n  - " + "\n  - ".join(problems)


# -- rviz2 ---------------------------------------------------------------------

def rviz_display_topics(plan: SegmentationLaunch) -> dict[str, str]:
    """Topic of each Image display in config/segmentation.rviz, by display name (rviz2's
    Image display takes the transport from the topic's last name: ``.../compressed``)."""
    camera = plan.input_topic + ("/compressed" if plan.image_transport == "compressed" else "")
    return {
        "Camera": camera,
        "Colour mask": plan.output_topic("color"),
        "Overlay": plan.output_topic("overlay"),
    }


def rviz_camera_reliability(plan: SegmentationLaunch) -> str:
    """rviz2's Camera display subscribes as the node does: reliable unless the node is told
    the camera is best effort. A best-effort subscription to a reliable camera is allowed,
    but Fast DDS then drops its large frames (0 of 20 at 640x480, docs/node.md)."""
    return "Best Effort" if plan.input_reliability == "best_effort" else "Reliable"


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
        if display.get("Name") == "Camera":
            display["Topic"]["Reliability Policy"] = rviz_camera_reliability(plan)
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


def write_rviz_config(template: Path, plan: SegmentationLaunch, folder: Path | None = None
                      ) -> Path:
    """Write the namespaced rviz2 config and return its path: one file per namespace and
    camera in ``folder`` (default ``$ROS_HOME/fanet_ros``, ``~/.ros/fanet_ros``), replaced
    atomically by each launch, so launches leave no file per run behind."""
    folder = folder or Path(os.environ.get("ROS_HOME") or Path.home() / ".ros") / "fanet_ros"
    folder.mkdir(parents=True, exist_ok=True)
    slug = plan.namespace.strip("/").replace("/", "_") or "root"
    path = folder / f"rviz_{slug}{'_' + plan.camera if plan.camera else ''}.rviz"
    with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False) as handle:
        handle.write(namespaced_rviz_config(template.read_text(), plan))
    os.replace(handle.name, path)
    return path


def launch_arguments_table() -> str:
    """The launch arguments as a Markdown table (docs/launch.md embeds it)."""
    rows = ["| argument | default | description |", "|---|---|---|"]
    for argument in LAUNCH_ARGUMENTS:
        default = f"`{argument.default}`" if argument.default else "(empty)"
        shown = (choice or "(empty)" for choice in argument.choices)
        choices = f" Choices: {', '.join(shown)}." if argument.choices else ""
        rows.append(f"| `{argument.name}` | {default} | {argument.description}{choices} |")
    return "\n".join(rows) + "\n"
