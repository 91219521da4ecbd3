"""The segmentation node's parameters: one table, declared with descriptors and validated.

The launch arguments, config/segmentation.yaml and the README read the same table, so a
parameter has one name, default, description and constraint everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fanet_ros.runtime.config import BACKENDS, ONE_SIDED_INPUT_SIZE, PRECISIONS

INPUT_RELIABILITIES = ("auto", "reliable", "best_effort")

OUTPUT_RESOLUTIONS = ("input", "model")
IMAGE_TRANSPORTS = ("raw", "compressed")


@dataclass(frozen=True)
class ParameterSpec:
    """One node parameter."""

    name: str
    default: Any
    description: str
    read_only: bool = True
    choices: tuple[str, ...] = ()
    int_range: tuple[int, int, int] | None = None
    """(from, to, step) as in rcl_interfaces/IntegerRange."""
    float_range: tuple[float, float] | None = None
    names: bool = False
    """A list of distinct names, each a ROS topic name token (a string array; dynamically typed,
    so that an empty list, which ``ros2 param set`` sends as a bool array, is taken)."""

    def check(self, value: Any) -> str | None:
        """The reason ``value`` is invalid, or ``None``."""
        if self.names:
            return name_list_problem(self.name, value)
        if self.choices and value not in self.choices:
            return f"{self.name} must be one of {', '.join(self.choices)}, not {value!r}"
        if self.int_range is not None:
            low, high, step = self.int_range
            hint = f" in steps of {step}" if step > 1 else ""
            if not isinstance(value, int) or isinstance(value, bool):
                return f"{self.name} must be an integer within {low}..{high}{hint}, not {value!r}"
            if not low <= value <= high or (value - low) % step:
                return f"{self.name} must be within {low}..{high}{hint}, not {value}"
        if self.float_range is not None:
            low, high = self.float_range
            if not isinstance(value, (int, float)) or not low <= value <= high:
                return f"{self.name} must be within {low}..{high}, not {value!r}"
        return None


TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
"""A ROS name token: letters, digits and underscores, starting with a letter."""


def is_empty_array(value: Any) -> bool:
    """An empty list, tuple or ``array.array`` (rclpy's integer and double arrays)."""
    return not isinstance(value, (str, bytes)) and hasattr(value, "__len__") and len(value) == 0


def names_value(value: Any) -> Any:
    """A names parameter's value as a list (``[]`` for an empty array of any type); other
    values are left for :func:`name_list_problem` to refuse."""
    return [] if is_empty_array(value) else list(value) if isinstance(value, (list, tuple)) \
        else value


def name_list_problem(name: str, value: Any) -> str | None:
    """Why ``value`` is not a list of distinct name tokens, or ``None``. An empty array of any
    element type is the empty list (YAML's ``[]`` has no element type)."""
    if is_empty_array(value):
        return None
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        return f"{name} must be a list of names, e.g. [front, rear], not {value!r}"
    bad = [v for v in value if not TOKEN.fullmatch(v)]
    if bad:
        return (f"{name}: {', '.join(map(repr, bad))} cannot be part of a topic name (letters, "
                "digits and _, starting with a letter)")
    if len(set(value)) != len(value):
        return f"{name} names a camera twice: {list(value)}"
    return None


NODE_PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec("model_path", "", "ONNX model exported by fanet-export (metadata inside). "
                  "Empty: the shipped FANet CamVid model."),
    ParameterSpec("backend", "auto", "Inference backend. auto: TensorRT when the tensorrt "
                  "package and a GPU are present, else ONNX Runtime.", choices=BACKENDS),
    ParameterSpec("gpu_device", 0, "CUDA device index for TensorRT and the ONNX Runtime CUDA "
                  "provider.", int_range=(0, 63, 1)),
    ParameterSpec("precision", "fp16", "TensorRT engine precision (int8 needs "
                  "int8_calibration_dir).", choices=PRECISIONS),
    ParameterSpec("engine_cache_dir", "", "Folder for cached TensorRT engines. Empty: "
                  "~/.cache/fanet_ros/engines."),
    ParameterSpec("int8_calibration_dir", "", "Folder of images for INT8 calibration."),
    ParameterSpec("workspace_mb", 1024, "TensorRT builder workspace limit in MiB.",
                  int_range=(64, 65536, 1)),
    ParameterSpec("build_only", False, "Build (or validate) the TensorRT engine, then exit."),
    ParameterSpec("input_height", 0, "Model input height in pixels, a multiple of 32; 0: the "
                  "size the model was exported at.", int_range=(0, 8192, 32)),
    ParameterSpec("input_width", 0, "Model input width in pixels, a multiple of 32; 0: the "
                  "size the model was exported at.", int_range=(0, 8192, 32)),
    ParameterSpec("num_threads", 0, "ONNX Runtime CPU threads; 0: its default (all cores).",
                  int_range=(0, 256, 1)),
    ParameterSpec("output_resolution", "input", "Resolution of the outputs: input (the "
                  "camera's; a logits model's labels are computed there exactly, "
                  "probabilities and labels models' are resized nearest-neighbour) or model.",
                  choices=OUTPUT_RESOLUTIONS),
    ParameterSpec("cameras", [], "Cameras served by this one node and model. Empty: one "
                  "camera on image. [front, rear]: front/image and rear/image in (remap each), "
                  "~/front/label, ~/rear/label, ... out, a /diagnostics status per camera; "
                  "frames that arrive together run as one batch where the model allows.",
                  names=True),
    ParameterSpec("image_transport", "raw", "raw: subscribe to image (sensor_msgs/Image); "
                  "compressed: to image/compressed (jpeg or png).", choices=IMAGE_TRANSPORTS),
    ParameterSpec("input_reliability", "auto", "Reliability of the image subscription. auto: "
                  "reliable when every publisher of the topic is reliable, else best effort "
                  "(as rosbag2 does; re-chosen when publishers come and go); reliable or "
                  "best_effort fix it.", choices=INPUT_RELIABILITIES),
    ParameterSpec("input_timeout", 3.0, "Seconds without a frame (with a publisher present), or "
                  "with frames but nothing published, before /diagnostics warns.",
                  float_range=(0.5, 3600.0)),
    ParameterSpec("max_decoded_megapixels", 16.0, "Largest compressed frame the node decodes, "
                  "read from its jpeg/png header first; larger frames are dropped and counted "
                  "(frames_dropped_too_large).", float_range=(0.01, 1000.0)),
    ParameterSpec("overlay_alpha", 0.5, "Weight of the class colours in ~/overlay.",
                  read_only=False, float_range=(0.0, 1.0)),
    ParameterSpec("jpeg_quality", 80, "JPEG quality (1-100) of ~/color/compressed and "
                  "~/overlay/compressed.", read_only=False, int_range=(1, 100, 1)),
    ParameterSpec("diagnostics_period", 1.0, "Seconds between /diagnostics messages.",
                  float_range=(0.1, 60.0)),
)

PARAMETERS_BY_NAME = {spec.name: spec for spec in NODE_PARAMETERS}
MODEL_PARAMETERS = ("class_names", "class_colors")
"""Read-only parameters the node declares from the loaded model (not in the table)."""


def combination_problems(values: dict[str, Any]) -> list[str]:
    """Problems between parameters; names missing from ``values`` take their defaults."""
    def value(name: str) -> Any:
        return values.get(name, PARAMETERS_BY_NAME[name].default)

    problems = []
    if bool(value("input_height")) != bool(value("input_width")):
        problems.append(ONE_SIDED_INPUT_SIZE)
    if value("precision") == "int8" and value("backend") == "onnxruntime":
        problems.append("precision int8 is a TensorRT engine precision; backend onnxruntime runs "
                        "the model as exported (fp32): use backend auto or tensorrt for int8, "
                        "or leave precision at fp16")
    return problems


def parameter_descriptor(spec: ParameterSpec, reconfigurable: bool = False) -> Any:
    """An ``rcl_interfaces/ParameterDescriptor`` for ``spec`` (imports ROS lazily).
    ``reconfigurable``: a managed node's, whose configure-time parameters may be set while it
    is unconfigured (the node refuses them in other states), so none is read-only."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

    descriptor = ParameterDescriptor(
        name=spec.name, description=spec.description,
        read_only=spec.read_only and not reconfigurable,
    )
    if spec.choices:
        descriptor.additional_constraints = "one of: " + ", ".join(spec.choices)
    if spec.names:
        descriptor.additional_constraints = "distinct names of letters, digits and _"
        descriptor.dynamic_typing = True  # [] arrives as an empty bool array, or not set
    if spec.int_range is not None:
        low, high, step = spec.int_range
        descriptor.integer_range = [IntegerRange(from_value=low, to_value=high, step=step)]
    if spec.float_range is not None:
        low, high = spec.float_range
        descriptor.floating_point_range = [
            FloatingPointRange(from_value=low, to_value=high, step=0.0)
        ]
    return descriptor


def declare_parameters(
    node: Any, specs: tuple[ParameterSpec, ...], reconfigurable: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """Declare ``specs`` on an rclpy ``node`` with their descriptors (see
    :func:`parameter_descriptor`); the values, and a problem per parameter that has the wrong
    type or value (every one, not the first)."""
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

    values: dict[str, Any] = {}
    problems = []
    for spec in specs:
        try:
            descriptor = parameter_descriptor(spec, reconfigurable)
            # an empty list has no element type: a names list is dynamically typed (unset: [])
            default = None if spec.names else spec.default
            value = node.declare_parameter(spec.name, default, descriptor).value
            value = names_value(value) if spec.names else value
            value = list(spec.default) if spec.names and value is None else value
        except (InvalidParameterTypeException, InvalidParameterValueException) as exc:
            problems.append(f"{spec.name}: {exc}")
            continue
        reason = spec.check(value)
        if reason:
            problems.append(reason)
        values[spec.name] = value
    return values, problems


def parameters_markdown() -> str:
    """The parameter table of the README, rendered from :data:`NODE_PARAMETERS`."""
    rows = ["| parameter | default | constraint | description |", "|---|---|---|---|"]
    for spec in NODE_PARAMETERS:
        if spec.choices:
            constraint = " \\| ".join(spec.choices)
        elif spec.int_range:
            low, high, step = spec.int_range
            constraint = f"{low}..{high}" + (f", step {step}" if step > 1 else "")
        elif spec.float_range:
            constraint = f"{spec.float_range[0]}..{spec.float_range[1]}"
        elif spec.names:
            constraint = "list of names"
        else:
            constraint = ""
        dynamic = "" if spec.read_only else " (settable at run time)"
        default = f"`{format_default(spec.default)}`"
        rows.append(f"| `{spec.name}` | {default} | {constraint} | {spec.description}{dynamic} |")
    return "\n".join(rows)


def format_default(value: Any) -> str:
    """A default as it is typed after ``-p name:=`` (and in a params file)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(str(item) for item in value) + "]"
    return '""' if value == "" else str(value)


if __name__ == "__main__":
    print(parameters_markdown())
