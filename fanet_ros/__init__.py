"""fanet_ros: real-time semantic segmentation (FANet, FSFFNet) for ROS 2.

The package root stays light: importing it pulls in neither rclpy, TensorFlow
nor ONNX Runtime, so training code can share its label tables, metrics and model
metadata without ROS. ``fanet_ros.Segmenter`` loads on first use.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Segmentation", "Segmenter", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("Segmenter", "Segmentation"):
        from fanet_ros import segmenter

        return getattr(segmenter, name)
    raise AttributeError(f"module 'fanet_ros' has no attribute {name!r}")
