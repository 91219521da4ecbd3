"""Whether TensorRT can run here: the package, the CUDA binding and the chosen GPU.

Never raises. It only counts and names devices (``cudaGetDeviceCount`` /
``cudaGetDeviceProperties``), which create no CUDA context, so no memory is
taken on any GPU, let alone one other than ``gpu_device``.
"""

from __future__ import annotations

import importlib

from fanet_ros.tensorrt.cuda_runtime import INSTALL_HINT, device_count, gpu_facts


def tensorrt_version() -> tuple[str | None, str]:
    """``(version, "")`` when ``import tensorrt`` works, else ``(None, why not)``."""
    try:
        trt = importlib.import_module("tensorrt")
    except ModuleNotFoundError as exc:
        if exc.name == "tensorrt":
            return None, "the 'tensorrt' Python package is not installed"
        return None, f"'import tensorrt' fails ({exc})"
    except Exception as exc:  # a broken install raises OSError, ImportError, ...
        return None, f"'import tensorrt' fails ({type(exc).__name__}: {exc})"
    return str(getattr(trt, "__version__", "unknown")), ""


def tensorrt_status(gpu_device: int = 0) -> tuple[bool, str]:
    """``(usable, why)`` for TensorRT on CUDA device ``gpu_device``."""
    version, problem = tensorrt_version()
    if version is None:
        return False, problem
    try:
        count = device_count()
        if gpu_device >= count:
            return False, (
                f"gpu_device {gpu_device} does not exist ({count} CUDA device(s) visible; "
                "check CUDA_VISIBLE_DEVICES)"
            )
        gpu = gpu_facts(gpu_device)
    except ImportError:
        return False, f"TensorRT {version} is installed but cuda-python is not ({INSTALL_HINT})"
    except Exception as exc:  # no driver, no device, driver too old...
        return False, f"TensorRT {version} is installed but no usable CUDA GPU was found ({exc})"
    return True, (
        f"TensorRT {version} and GPU {gpu_device} ({gpu.name}, compute capability "
        f"{gpu.compute_capability}) are available"
    )
