"""The metadata every fanet_ros ONNX model carries, and how it is read and written.

The model artifact is one ONNX file. Its ``metadata_props`` hold one entry,
``fanet_ros``, whose value is the JSON of :class:`ModelMetadata`: what the
node needs to feed the model and to name and colour its classes. Training's
export writes it; the runtime backends read it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from fanet_ros.labels import IGNORE_LABEL, LabelSet, class_table_problems

METADATA_KEY = "fanet_ros"
SCHEMA_VERSION = 1

OutputKind = Literal["logits", "probabilities", "labels"]
REQUIRED_KEYS = ("model", "dataset", "class_names", "colors", "input_height", "input_width")
"""Keys the ``fanet_ros`` metadata entry must have (the others have defaults)."""
HOW_TO_FIX_METADATA = (
    "re-export the model with `fanet-export` (fanet_training/export.py), which writes this entry"
)


def _whole_number(name: str, value: Any) -> int:
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or value != int(value)):
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    return int(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _numbers(name: str, value: Any) -> tuple[float, ...]:
    """A list of numbers from metadata or a config; ``ValueError`` names the field."""
    if not isinstance(value, (list, tuple)) or not all(_is_number(v) for v in value):
        raise ValueError(f"{name} must be a list of numbers, not {value!r}")
    return tuple(float(v) for v in value)


def _strings(name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} must be a list of strings, not {value!r}")
    return tuple(value)


def _categories(value: Any) -> dict[str, tuple[int, ...]]:
    """``{category: [class id, ...]}``; the ids' range is checked with the classes."""
    if not isinstance(value, dict):
        raise ValueError(f"categories must be an object of class id lists, not {value!r}")
    categories = {}
    for name, ids in value.items():
        if not isinstance(ids, (list, tuple)):
            raise ValueError(f"categories[{name!r}] must be a list of class ids, not {ids!r}")
        categories[str(name)] = tuple(_whole_number(f"categories[{name!r}]", i) for i in ids)
    return categories


def _color(index: int, value: Any) -> tuple[int, ...]:
    """One colour of the metadata as whole numbers; range checks come later."""
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"colors[{index}] must be a list of 3 numbers, not {value!r}")
    return tuple(_whole_number(f"colors[{index}]", v) for v in value)


@dataclass(frozen=True)
class Normalization:
    """``input = (pixel * scale - mean) / std`` per RGB channel."""

    scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        problems = []
        if not (math.isfinite(self.scale) and self.scale > 0):
            problems.append(f"normalization.scale {self.scale}: must be a positive number")
        for name, values in (("mean", self.mean), ("std", self.std)):
            if len(values) != 3:
                problems.append(f"normalization.{name}: 3 values (R, G, B), not {len(values)}")
            elif not all(math.isfinite(v) for v in values):
                problems.append(f"normalization.{name} {list(values)}: must be finite numbers")
            elif name == "std" and not all(v > 0 for v in values):
                problems.append(f"normalization.std {list(values)}: must be positive (the "
                                "input is divided by it)")
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> Normalization:
        """From metadata or a training config (missing keys: the defaults)."""
        values = values or {}
        if not isinstance(values, Mapping):
            raise ValueError(f"normalization must be an object, not {values!r}")
        (scale,) = _numbers("normalization.scale", [values.get("scale", cls.scale)])
        return cls(scale=scale,
                   mean=_numbers("normalization.mean", values.get("mean", cls.mean)),  # type: ignore[arg-type]
                   std=_numbers("normalization.std", values.get("std", cls.std)))  # type: ignore[arg-type]


@dataclass(frozen=True)
class ModelMetadata:
    """What a model expects and predicts."""

    model: str
    dataset: str
    class_names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]
    input_height: int
    input_width: int
    output: OutputKind = "probabilities"
    """``logits``: float32 NHWC ``[1, H/8, W/8, C]`` class scores at stride 8 (no resize, no
    softmax: the node upsamples labels exactly, fanet_ros.label_upsampling); ``probabilities``:
    float32 NHWC ``[1, H, W, C]`` softmax; ``labels``: uint8 ``[1, H, W]`` ids (arg-max in)."""
    layout: Literal["NHWC"] = "NHWC"
    color_order: Literal["RGB"] = "RGB"
    normalization: Normalization = field(default_factory=Normalization)
    ignore_label: int = IGNORE_LABEL
    categories: dict[str, tuple[int, ...]] = field(default_factory=dict)
    dynamic_size: bool = False
    """True when the graph accepts other sizes (multiples of ``size_multiple``)."""
    size_multiple: int = 32
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form provenance: training command, epochs, val mIoU..."""
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        problems = class_table_problems(self.class_names, self.colors, self.ignore_label)
        if self.input_height <= 0 or self.input_width <= 0:
            problems.append(f"input size {self.input_height}x{self.input_width}")
        if self.output not in ("logits", "probabilities", "labels"):
            problems.append(f"output kind {self.output!r}")
        if self.layout != "NHWC":
            problems.append(f"layout {self.layout!r} (only NHWC is supported)")
        if self.color_order != "RGB":
            problems.append(f"color_order {self.color_order!r} (only RGB is supported)")
        if not isinstance(self.dynamic_size, bool):
            problems.append(f"dynamic_size {self.dynamic_size!r} (true or false)")
        if not isinstance(self.size_multiple, int) or self.size_multiple <= 0:
            problems.append(f"size_multiple {self.size_multiple!r} (a positive whole number)")
        elif self.dynamic_size and (self.input_height % self.size_multiple
                                    or self.input_width % self.size_multiple):
            problems.append(f"input size {self.input_height}x{self.input_width} is not a "
                            f"multiple of size_multiple {self.size_multiple}")
        for name, ids in self.categories.items():
            outside = [i for i in ids if not 0 <= i < len(self.class_names)]
            if outside:
                problems.append(f"category {name!r} names class ids {outside} outside "
                                f"0..{len(self.class_names) - 1}")
        if not isinstance(self.extra, dict):
            problems.append(f"extra {self.extra!r} (an object)")
        if self.schema_version > SCHEMA_VERSION:
            problems.append(
                f"schema version {self.schema_version} is newer than this fanet_ros "
                f"understands ({SCHEMA_VERSION}); upgrade fanet_ros"
            )
        if problems:
            raise ValueError("invalid model metadata: " + "; ".join(problems))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def label_set(self) -> LabelSet:
        """The model's classes as a :class:`LabelSet` (for metrics and colouring)."""
        return LabelSet(
            name=self.dataset,
            class_names=self.class_names,
            colors=self.colors,
            ignore_label=self.ignore_label,
            categories=self.categories,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelMetadata:
        """Parse metadata JSON; ``ValueError`` names the key or field that is wrong."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid model metadata: not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError("invalid model metadata: not a JSON object")
        missing = [name for name in REQUIRED_KEYS if name not in data]
        if missing:
            raise ValueError(
                f"invalid model metadata: missing key(s) {', '.join(missing)} "
                f"(required: {', '.join(REQUIRED_KEYS)})"
            )
        try:
            data["class_names"] = _strings("class_names", data["class_names"])
            if not isinstance(data["colors"], (list, tuple)):
                raise ValueError(f"colors must be a list of RGB triples, not {data['colors']!r}")
            data["colors"] = tuple(_color(i, c) for i, c in enumerate(data["colors"]))
            data["categories"] = _categories(data.get("categories", {}))
            data["normalization"] = Normalization.from_dict(data.get("normalization"))
            for name in ("input_height", "input_width", "ignore_label", "size_multiple"):
                if name in data:
                    data[name] = _whole_number(name, data[name])
            unknown = set(data) - set(cls.__dataclass_fields__)
            if unknown:  # newer writers' keys are kept as provenance
                extra = data.get("extra", {})
                if not isinstance(extra, dict):
                    raise ValueError(f"extra must be an object, not {extra!r}")
                data["extra"] = {**extra, **{k: data.pop(k) for k in unknown}}
            return cls(**data)
        except (TypeError, ValueError, AttributeError) as exc:
            message = str(exc)
            raise ValueError(message if message.startswith("invalid model metadata") else
                             f"invalid model metadata: {message}") from None

    @classmethod
    def for_label_set(cls, label_set: LabelSet, **kwargs: Any) -> ModelMetadata:
        """Metadata whose classes, colours and categories come from a dataset table."""
        return cls(
            dataset=label_set.name,
            class_names=label_set.class_names,
            colors=label_set.colors,
            ignore_label=label_set.ignore_label,
            categories=label_set.categories,
            **kwargs,
        )


def metadata_from_props(props: dict[str, str], source: str | Path) -> ModelMetadata:
    """Parse the ``fanet_ros`` entry of an ONNX model's metadata props."""
    if METADATA_KEY not in props:
        raise ValueError(
            f"{source}: the ONNX model has no '{METADATA_KEY}' metadata; export it "
            "with `fanet-export` (fanet_training/export.py) so that it records its classes, "
            "input size and normalisation"
        )
    try:
        return ModelMetadata.from_json(props[METADATA_KEY])
    except ValueError as exc:
        raise ValueError(
            f"{source}: its '{METADATA_KEY}' metadata entry is unusable: {exc}; "
            f"{HOW_TO_FIX_METADATA}"
        ) from None


def metadata_of_proto(model_proto: Any, source: str | Path) -> ModelMetadata:
    """The ``fanet_ros`` metadata of a loaded ``onnx.ModelProto``; ``source`` names it in errors."""
    return metadata_from_props({p.key: p.value for p in model_proto.metadata_props}, source)


def attach_metadata(model_proto: Any, metadata: ModelMetadata) -> None:
    """Write ``metadata`` into an ``onnx.ModelProto`` (replacing an older entry)."""
    for prop in list(model_proto.metadata_props):
        if prop.key == METADATA_KEY:
            model_proto.metadata_props.remove(prop)
    entry = model_proto.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = metadata.to_json()
