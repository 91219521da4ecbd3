"""Helpers of the repository's commands, benchmarks and tests: generated Markdown blocks,
facts about the host, a process's memory, a local-only ROS domain. They import nothing else
from fanet_ros, so any layer may use them."""
