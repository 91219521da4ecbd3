"""Whether TensorRT can run here: the package, the CUDA binding and the chosen GPU.

Never raises. It only counts and names devices (``cudaGetDeviceCount`` /
``cudaGetDeviceProperties``), which create no CUDA context, so no memory is
taken on any GPU, let alone one other than ``gpu_device``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re

from fanet_ros.tensorrt.cuda_runtime import (
    INSTALL_HINT,
    INSUFFICIENT_DRIVER,
    CudaError,
    device_count,
    gpu_facts,
)

OLDEST_TENSORRT = (8, 6)
"""JetPack 6's TensorRT. JetPack 5 (TensorRT 8.5) has Python bindings for Python 3.8 only,
and this package needs Python 3.10."""


def version_tuple(version: str) -> tuple[int, ...]:
    """``"8.6.1.post1"`` -> ``(8, 6, 1)``; the numeric leading fields only."""
    numbers = []
    for field in version.split("."):
        digits = "".join(c for c in field if c.isdigit()) if field[:1].isdigit() else ""
        if not digits:
            break
        numbers.append(int(digits))
    return tuple(numbers)


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


def tensorrt_cuda_wheels() -> list[str]:
    """The installed pip TensorRT builds, e.g. ``["tensorrt_cu13"]`` (none for JetPack's)."""
    names = set()
    for distribution in importlib.metadata.distributions():
        name = re.sub(r"[-_.]+", "_", distribution.metadata.get("Name") or "").lower()
        if re.fullmatch(r"tensorrt_cu\d+", name):
            names.add(name)
    return sorted(names)


def tensorrt_status(gpu_device: int = 0) -> tuple[bool, str]:
    """``(usable, why)`` for TensorRT on CUDA device ``gpu_device``."""
    version, problem = tensorrt_version()
    if version is None:
        return False, problem
    if () < version_tuple(version) < OLDEST_TENSORRT:
        return False, (
            f"TensorRT {version} is older than 8.6, the oldest fanet_ros supports (JetPack 6 or "
            "a desktop TensorRT 8.6 / 10.x)"
        )
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
    except CudaError as exc:
        if exc.code == INSUFFICIENT_DRIVER:
            return False, f"TensorRT {version} is installed but CUDA cannot start: {exc}"
        return False, f"TensorRT {version} is installed but no usable CUDA GPU was found ({exc})"
    except Exception as exc:  # no driver, no device, driver too old...
        return False, f"TensorRT {version} is installed but no usable CUDA GPU was found ({exc})"
    return True, (
        f"TensorRT {version} and GPU {gpu_device} ({gpu.name}, compute capability "
        f"{gpu.compute_capability}) are available"
    )
