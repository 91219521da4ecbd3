"""Imported by the node executables right after ``startup_signals``: onnxruntime and onnx,
which rosdep does not install, are named with the command that installs them before an import
below fails with a bare traceback. (Not in the package's ``__init__``: the bag tools import
small helpers of this package and need neither.)"""

from fanet_ros.tooling.pip_requirements import require_pip_packages

require_pip_packages("onnxruntime", "onnx")
