"""The segmentation models (Keras 3) behind a registry; importing this registers them all."""

from fanet_training.models import (  # noqa: F401  (registers the builders)
    contextnet,
    espnet,
    fanet,
    fast_scnn,
    fsffnet,
)
from fanet_training.models.deep_supervision import with_auxiliary_heads
from fanet_training.models.registry import AUX_TAPS, MODELS, build_model, register_model

__all__ = ["AUX_TAPS", "MODELS", "build_model", "register_model", "with_auxiliary_heads"]
