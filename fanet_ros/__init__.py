"""fanet_ros: real-time semantic segmentation (FANet, FSFFNet) for ROS 2.

The package root stays light: importing it pulls in neither rclpy nor
TensorFlow, so training code can share its label tables, metrics and model
metadata without ROS, and the node can use them without TensorFlow.
"""

__version__ = "0.1.0"
