"""Model registry: ``build_model("fanet", num_classes, input_shape)``."""

from __future__ import annotations

from collections.abc import Callable

import keras

ModelBuilder = Callable[..., keras.Model]
MODELS: dict[str, ModelBuilder] = {}


def register_model(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    """Decorator that makes a builder available to :func:`build_model` under ``name``."""

    def add(builder: ModelBuilder) -> ModelBuilder:
        if name in MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        MODELS[name] = builder
        return builder

    return add


def build_model(name: str, num_classes: int, input_shape: tuple = (None, None, 3)) -> keras.Model:
    """Build a registered model; ``input_shape`` is ``(H, W, 3)`` with sides multiples of 32."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    height, width = input_shape[0], input_shape[1]
    for side in (height, width):
        if side is not None and (side <= 0 or side % 32):
            raise ValueError(f"input sides must be positive multiples of 32, got {height}x{width}")
    return MODELS[name](num_classes, tuple(input_shape))
