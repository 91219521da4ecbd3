"""segmentation_node and what only the ROS nodes use: parameters, QoS, camera channels,
diagnostics, start-up and memory tuning. The package itself imports nothing, so that the
node's first import (``startup_signals``) runs before rclpy loads."""
