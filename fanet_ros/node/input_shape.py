"""Camera frames whose shape the model input stretches: what to set instead.

The node resizes each frame to the model's input size, whatever the camera's shape, so a
16:9 camera on a 4:3 input (384x512) is squeezed vertically; the models trained on frames of
their input's shape. A model that takes other sizes runs at one of the camera's shape instead.
"""

from __future__ import annotations

STRETCH_TOLERANCE = 0.05
"""Aspect ratios within 5 % of each other count as the same shape."""

ADVICE_TOLERANCE = STRETCH_TOLERANCE / 2
"""An advised input size is this close to the camera's shape, well inside the check."""


def aspect_mismatch(aspect: float, other: float) -> float:
    """How far ``aspect`` is from ``other``, as a fraction of it."""
    return abs(aspect / other - 1.0)


def stretch_advice(camera: tuple[int, int], model: tuple[int, int], dynamic_size: bool,
                   size_multiple: int) -> str | None:
    """What to set when ``camera`` frames (height, width) are stretched by more than
    :data:`STRETCH_TOLERANCE` into the ``model`` input (height, width); ``None`` otherwise."""
    camera_aspect, model_aspect = camera[1] / camera[0], model[1] / model[0]
    if aspect_mismatch(camera_aspect, model_aspect) <= STRETCH_TOLERANCE:
        return None
    stretched = (f"camera frames of {camera[1]}x{camera[0]} (WxH, aspect {camera_aspect:.2f}) "
                 f"are stretched to the model input {model[1]}x{model[0]} (aspect "
                 f"{model_aspect:.2f}), a shape the model never trained on")
    if not dynamic_size:
        return (f"{stretched}; this model was exported for that size only: re-export it with "
                "dynamic height and width (fanet-export) to run at the camera's shape")
    size = size_keeping_shape(camera_aspect, model, size_multiple)
    if size is None:
        return (f"{stretched}; no input size in multiples of {size_multiple} near this one "
                "keeps the camera's shape: crop or rectify the frames to the input's shape")
    where = "the same width" if size[1] == model[1] else "about the same pixel count"
    return (f"{stretched}; input_height:={size[0]} input_width:={size[1]} keeps the camera's "
            f"shape at {where}")


def size_keeping_shape(camera_aspect: float, model: tuple[int, int], size_multiple: int
                       ) -> tuple[int, int] | None:
    """The input size (height, width), in multiples of ``size_multiple``, within
    :data:`ADVICE_TOLERANCE` of ``camera_aspect``: at the model's width if one is, else
    the one of about the model's pixel count; ``None`` if none up to twice its sides."""
    steps = 2 * max(model) // size_multiple + 1
    sides = [k * size_multiple for k in range(1, steps + 1)]
    fitting = [(h, w) for h in sides for w in sides
               if aspect_mismatch(w / h, camera_aspect) <= ADVICE_TOLERANCE]
    if not fitting:
        return None
    pixels = model[0] * model[1]
    return min(fitting, key=lambda size: (size[1] != model[1], abs(size[0] * size[1] - pixels)))
