"""FANet and FSFFNet (Keras 3) behind a registry; importing this registers both."""

from fanet_training.models import fanet, fsffnet  # noqa: F401  (registers the builders)
from fanet_training.models.registry import MODELS, build_model, register_model

__all__ = ["MODELS", "build_model", "register_model"]
