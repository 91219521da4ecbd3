"""Multiply-accumulates of a Keras model's convolution and dense layers (the one MAC counter).

Counts Conv2D, DepthwiseConv2D, SeparableConv2D (depthwise + pointwise) and
Dense from each layer's input and output shapes; pooling, normalisation,
activations, additions and resizes are left out, as is usual for GMAC figures.
"""

from __future__ import annotations

import math

import keras


def layer_macs(layer: keras.layers.Layer) -> int:
    """MACs of one call of ``layer`` at the shapes the model was built with."""
    if isinstance(layer, keras.Model):
        return count_macs(layer)
    kinds = (keras.layers.SeparableConv2D, keras.layers.DepthwiseConv2D, keras.layers.Conv2D,
             keras.layers.Dense)
    if not isinstance(layer, kinds):
        return 0
    in_channels = int(layer.input.shape[-1])
    out_shape = layer.output.shape
    positions = math.prod(int(d) for d in out_shape[1:-1])
    if isinstance(layer, keras.layers.Dense):
        return positions * in_channels * layer.units
    window = math.prod(layer.kernel_size)
    if isinstance(layer, keras.layers.SeparableConv2D):
        depthwise = in_channels * layer.depth_multiplier
        return positions * (window * depthwise + depthwise * layer.filters)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return positions * window * in_channels * layer.depth_multiplier
    return positions * window * (in_channels // layer.groups) * layer.filters


def count_macs(model: keras.Model) -> int:
    """Total MACs for one image at the model's fixed input size."""
    return sum(layer_macs(layer) for layer in model.layers)
