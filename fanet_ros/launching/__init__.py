"""The launch layer: what launch/*.py decide (plain, tested Python) and the launch actions
that carry it out."""

from fanet_ros.node import pip_requirements_check  # noqa: F401  the node's, named at once
