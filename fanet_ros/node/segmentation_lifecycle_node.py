"""segmentation_lifecycle_node: segmentation_node as a ROS 2 managed (lifecycle) node.

The same topics, parameters and behaviour as segmentation_node (its docstring and
docs/node.md), driven by lifecycle transitions (``ros2 lifecycle set``, a lifecycle manager
such as nav2's, or launch_ros's ``LifecycleNode``):

* constructed: ``unconfigured``, parameters declared and checked (bad ones stop the
  process, exit code 1, as with segmentation_node);
* ``configure``: loads the model (and builds or loads the TensorRT engine), creates every
  subscription and publisher; a model that does not load fails the transition with the
  reason logged, and the node stays ``unconfigured``;
* ``activate``: frames are processed and published, ``~/label_info`` is sent, /diagnostics
  reports health; ``deactivate``: frames are dropped, outputs are silent, /diagnostics says
  ``inactive`` (as it does between configure and the first activate);
* ``cleanup``: every topic and the model are released; ``shutdown``: the same, from any
  state.

While ``unconfigured`` (at start, after cleanup or a failed configure) every parameter may
be set (``ros2 param set``: another model_path, input size, backend, cameras...) and the next
configure reads it; in other states only overlay_alpha and jpeg_quality, as on segmentation_node.
"""

from __future__ import annotations

from fanet_ros.node import startup_signals  # noqa: F401  first: Ctrl-C during imports exits quietly

# isort: split

from fanet_ros.node import pip_requirements_check  # noqa: F401  names a missing onnxruntime

# isort: split

import sys
from typing import Any

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.publisher import Publisher

from fanet_ros.node.camera_channel import StartupError
from fanet_ros.node.segmentation_core import SegmentationCore, run_node
from fanet_ros.runtime import ModelLoadError

__all__ = ["SegmentationLifecycleNode", "main"]

HELP_EXAMPLE = "-p backend:=onnxruntime -r image:=/camera/image_raw  (then: ros2 lifecycle " \
    "set /segmentation_node configure, ... activate)"
"""The command line ``--help`` shows."""


class SegmentationLifecycleNode(SegmentationCore, LifecycleNode):
    """The segmentation node as a managed node; raises :class:`StartupError` for bad
    parameters at construction."""

    RECONFIGURABLE = True

    def __init__(self, node_name: str = "segmentation_node", **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        try:
            self._declare()
        except BaseException:
            Node.destroy_node(self)
            raise
        if self.params["build_only"]:
            self.get_logger().warning("build_only has no effect on segmentation_lifecycle_node "
                                      "(configure builds the engine): use segmentation_node")

    def _create_output_publisher(self, msg_type: type, topic: str, qos: Any,
                                 **kwargs: Any) -> Publisher:
        return self.create_lifecycle_publisher(msg_type, topic, qos, **kwargs)

    def _destroy_output_publisher(self, publisher: Publisher) -> None:
        self.destroy_lifecycle_publisher(publisher)  # type: ignore[arg-type]

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._configure()
        except (ModelLoadError, StartupError) as exc:
            self.get_logger().error(f"configure failed: {exc}")
            self._cleanup()
            return TransitionCallbackReturn.FAILURE
        except Exception as exc:  # a bug: on_error releases what was made
            self.get_logger().error(f"configure failed: {type(exc).__name__}: {exc}")
            return TransitionCallbackReturn.ERROR
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._worker_running():  # never two workers on one backend
            self.get_logger().error("activate refused: an inference started before the last "
                                    "deactivate still runs; activate again once it has ended")
            return TransitionCallbackReturn.FAILURE
        result = super().on_activate(state)  # the lifecycle publishers first
        self._activate()
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        if not self._deactivate():
            self.get_logger().warning("an inference still runs after deactivate; it ends on "
                                      "its own and its outputs are dropped")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._cleanup()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._cleanup()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.get_logger().error(f"error in state '{state.label}': releasing the model")
        self._cleanup()
        return TransitionCallbackReturn.SUCCESS  # to unconfigured: configure may be retried

    def destroy_node(self) -> None:
        self._cleanup()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run fanet_ros segmentation_lifecycle_node``."""
    return run_node(SegmentationLifecycleNode, __doc__ or "", HELP_EXAMPLE, args,
                    "segmentation_node")


if __name__ == "__main__":
    sys.exit(main())
