"""Parameter counts as a deployed model holds them, the convention the published figures fit.

Keras' ``count_params`` includes BatchNorm's moving statistics, and its trainable count
BatchNorm's scale and offset; neither survives export, where each BatchNorm is folded
into the convolution before it. The deployed count is every convolution's and dense
layer's kernel plus one bias per output channel (its own, or the folded BatchNorm's).
"""

from __future__ import annotations

import math

import keras

_WEIGHTED = (keras.layers.Conv2D, keras.layers.SeparableConv2D, keras.layers.DepthwiseConv2D,
             keras.layers.Dense)


def _output_channels(layer: keras.layers.Layer) -> int:
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return int(layer.kernel.shape[2] * layer.kernel.shape[3])
    return int(layer.units if isinstance(layer, keras.layers.Dense) else layer.filters)


def deployed_parameters(model: keras.Model) -> int:
    """Kernels plus one bias per output channel of every convolution and dense layer."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, _WEIGHTED):
            kernels = [w for w in layer.weights if "kernel" in w.path.rsplit("/", 1)[-1]]
            total += sum(math.prod(w.shape) for w in kernels) + _output_channels(layer)
    return total
