"""Model registry: ``build_model("fanet", num_classes, input_shape)``."""

from __future__ import annotations

from collections.abc import Callable

import keras

from fanet_training.models.blocks import add_output_head

ModelBuilder = Callable[..., keras.Model]
MODELS: dict[str, ModelBuilder] = {}
AUX_TAPS: dict[str, tuple[str, ...]] = {}
"""Per model, the layers (lower-resolution branches) that deep supervision attaches
auxiliary heads to during training (``fanet_training.models.deep_supervision``)."""


def register_model(name: str, aux_taps: tuple[str, ...] = ()
                   ) -> Callable[[ModelBuilder], ModelBuilder]:
    """Decorator that makes a builder available to :func:`build_model` under ``name``;
    ``aux_taps`` names the layers deep supervision may attach auxiliary heads to."""

    def add(builder: ModelBuilder) -> ModelBuilder:
        if name in MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        MODELS[name] = builder
        AUX_TAPS[name] = tuple(aux_taps)
        return builder

    return add


def build_model(name: str, num_classes: int, input_shape: tuple = (None, None, 3),
                output: str = "probabilities") -> keras.Model:
    """Build a registered model; ``input_shape`` is ``(H, W, 3)`` with sides multiples of 32.

    A builder returns image -> class logits at its own stride; ``output`` picks the end
    (``fanet_training.models.blocks.OUTPUT_KINDS``): ``probabilities`` or ``logits`` at the
    input size, or ``low_res_logits``. Weights are the same whichever end is chosen.
    """

    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    height, width = input_shape[0], input_shape[1]
    for side in (height, width):
        if side is not None and (side <= 0 or side % 32):
            raise ValueError(f"input sides must be positive multiples of 32, got {height}x{width}")
    return add_output_head(MODELS[name](num_classes, tuple(input_shape)), output)
