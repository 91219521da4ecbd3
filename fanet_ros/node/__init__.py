"""segmentation_node and what only the ROS nodes use: parameters, QoS, camera channels,
diagnostics, start-up and memory tuning. The package itself only looks for its pip
requirements (importing none of them), so that the node's first import (``startup_signals``)
runs before rclpy loads."""

from fanet_ros.tooling.pip_requirements import require_pip_packages

require_pip_packages("onnxruntime", "onnx")
