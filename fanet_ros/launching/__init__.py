"""The launch layer: what launch/*.py decide (plain, tested Python) and the launch actions
that carry it out."""

from fanet_ros.tooling.pip_requirements import require_pip_packages

require_pip_packages("onnxruntime", "onnx")
