"""segmentation_node: camera images in, label / colour / overlay images out.

Subscribes ``image`` (or ``image/compressed``), runs the model off the
subscription callback on a worker thread (newest frame wins), and publishes
``~/label`` (mono8 class ids, 255 = unknown), ``~/color``, ``~/overlay`` and
``~/confidence`` (mono8, 255 x the winning class's probability),
each only while it has subscribers, with the input's header; with them ``~/camera_info``
(the input's ``camera_info``, beside ``image``, scaled to the outputs' size). Class names and
colours go out once on the latched ``~/label_info`` and as read-only
parameters; health goes to ``/diagnostics`` (levels: fanet_ros.node.diagnostics_health).
The input subscription's reliability follows the publishers (fanet_ros.node.input_qos).

Several cameras, one model: with ``cameras:=[front, rear]`` the node subscribes
``front/image`` and ``rear/image`` (remap each, e.g. ``-r front/image:=/front/image_raw``)
and publishes ``~/front/label``, ``~/rear/label``, ... with a /diagnostics status per
camera (fanet_ros.node.camera_channel). Each camera keeps its newest frame; the worker serves
the cameras that have one in turn, in one batch where the model allows
(fanet_ros.node.batch_runner), so a slow or silent camera holds no other back.
"""

from __future__ import annotations

from fanet_ros.node import startup_signals  # noqa: F401  first: Ctrl-C during the imports below exits quietly

# isort: split

from fanet_ros.node import pip_requirements_check  # noqa: F401  names a missing onnxruntime

# isort: split

import sys
from typing import Any

from rclpy.node import Node

from fanet_ros.node.camera_channel import StartupError
from fanet_ros.node.input_qos import AdaptiveSubscription
from fanet_ros.node.segmentation_core import SegmentationCore, run_node

__all__ = ["SegmentationNode", "StartupError", "main"]

HELP_EXAMPLE = "-p backend:=onnxruntime -p output_resolution:=model -r image:=/camera/image_raw"
"""The command line ``--help`` shows."""


class SegmentationNode(SegmentationCore, Node):
    """The segmentation node, working from construction on; raises :class:`StartupError` /
    ``ModelLoadError`` at start-up (fanet_ros.node.segmentation_core has the phases)."""

    def __init__(self, node_name: str = "segmentation_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        try:
            self._declare()
            self._configure()
            self._activate()
        except BaseException:
            self._cleanup()
            Node.destroy_node(self)  # half-built: release what rclpy holds, nothing more
            raise

    @property
    def image_sub(self) -> AdaptiveSubscription:
        """The first camera's image subscription (the only one without ``cameras``)."""
        return next(iter(self.channels.values())).image_sub

    def destroy_node(self) -> None:
        self._cleanup()
        super().destroy_node()


def _unless_build_only(node: SegmentationNode) -> bool:
    if not node.params["build_only"]:
        return True
    node.get_logger().info(f"build_only: {node.backend.describe()} is ready; exiting")
    return False


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run fanet_ros segmentation_node``; ``--help`` prints the usage."""
    return run_node(SegmentationNode, __doc__ or "", HELP_EXAMPLE, args, "segmentation_node",
                    ready=_unless_build_only)


if __name__ == "__main__":
    sys.exit(main())
