"""Camera frames whose shape the model input stretches: what to set instead.

The node resizes each frame to the model's input size, whatever the camera's shape, so a
16:9 camera on a 4:3 input (384x512) is squeezed vertically; the models trained on frames of
their input's shape. A model that takes other sizes runs at one of the camera's shape instead.
"""

from __future__ import annotations

STRETCH_TOLERANCE = 0.05
"""Aspect ratios within 5 % of each other count as the same shape."""


def stretch_advice(camera: tuple[int, int], model: tuple[int, int], dynamic_size: bool,
                   size_multiple: int) -> str | None:
    """What to set when ``camera`` frames (height, width) are stretched by more than
    :data:`STRETCH_TOLERANCE` into the ``model`` input (height, width); ``None`` otherwise."""
    camera_aspect, model_aspect = camera[1] / camera[0], model[1] / model[0]
    if abs(camera_aspect / model_aspect - 1.0) <= STRETCH_TOLERANCE:
        return None
    stretched = (f"camera frames of {camera[1]}x{camera[0]} (WxH, aspect {camera_aspect:.2f}) "
                 f"are stretched to the model input {model[1]}x{model[0]} (aspect "
                 f"{model_aspect:.2f}), a shape the model never trained on")
    if not dynamic_size:
        return (f"{stretched}; this model was exported for that size only: re-export it with "
                "dynamic height and width (fanet-export) to run at the camera's shape")
    exact = model[1] / camera_aspect / size_multiple  # in multiples, at the model's width
    height = min((max(1, int(exact)), int(exact) + 1),
                 key=lambda k: abs(model[1] / (k * size_multiple) / camera_aspect - 1.0))
    height *= size_multiple
    return (f"{stretched}; input_height:={height} input_width:={model[1]} keeps the camera's "
            "shape at the same width")
