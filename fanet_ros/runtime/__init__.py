"""Model runtimes: one small interface, one module per backend."""

from fanet_ros.runtime.base import InferenceBackend, ModelLoadError, labels_from_output
from fanet_ros.runtime.config import BackendConfig
from fanet_ros.runtime.select import create_backend

__all__ = [
    "BackendConfig",
    "InferenceBackend",
    "ModelLoadError",
    "create_backend",
    "labels_from_output",
]
