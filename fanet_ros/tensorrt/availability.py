"""Whether TensorRT can run here (package importable and a CUDA GPU present)."""

from __future__ import annotations

import importlib.util


def tensorrt_status() -> tuple[bool, str]:
    """``(usable, why)``; never raises, never touches CUDA when TensorRT is absent."""
    if importlib.util.find_spec("tensorrt") is None:
        return False, "the 'tensorrt' Python package is not installed"
    return False, "the TensorRT backend is not implemented yet"
