"""ESPNet, the Efficient Segmentation Pyramid Network (Singha, Pham, Krishna, Dunstan, ICONIP
2020): an EfficientNet encoder, pyramid pooling on its stride-32 features, a light classifier at
stride 4. Base S0 (EfficientNet-B0 widths and depths) is registered as ``espnet``."""

from __future__ import annotations

import math

import keras
from keras import layers

from fanet_training.models.blocks import (
    classifier_head,
    pyramid_pooling,
    sep_conv_bn_act,
)
from fanet_training.models.blocks import upsample_to as up
from fanet_training.models.registry import register_model

ENCODER_STAGES = (
    # (kernel, repeats, output channels, expansion, stride) of EfficientNet-B0.
    (3, 1, 16, 1, 1),
    (3, 2, 24, 6, 2),
    (5, 2, 40, 6, 2),
    (3, 3, 80, 6, 2),
    (5, 3, 112, 6, 1),
    (5, 4, 192, 6, 2),
    (3, 1, 320, 6, 1),
)
SCALES = {"s0": (1.0, 1.0), "s1": (1.0, 1.1), "s2": (1.1, 1.2)}
"""Base ESPNet variants: (width, depth) coefficients, those of EfficientNet-B0, B1 and B2."""
SE_RATIO = 0.25
DROP_CONNECT = 0.2
"""Largest stochastic-depth rate (last block); it grows linearly from 0 with block index."""
PPM_BINS = (1, 2, 3, 6)
PPM_CHANNELS = 80
HEAD_CHANNELS = 128
HEAD_DROPOUT = 0.3


def scaled_channels(channels: int, width: float, divisor: int = 8) -> int:
    """EfficientNet's width rounding: nearest multiple of ``divisor``, never 10 % below."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


def squeeze_excite(x, reduced: int, name: str):
    """Channel gates: global average, 1x1 Conv2D to ``reduced`` + swish, 1x1 back + sigmoid."""
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    s = layers.Conv2D(reduced, 1, activation="swish", name=f"{name}_reduce")(s)
    s = layers.Conv2D(x.shape[-1], 1, activation="sigmoid", name=f"{name}_expand")(s)
    return layers.Multiply(name=f"{name}_excite")([x, s])


def mbconv(x, filters: int, kernel: int, expansion: int, strides: int, drop: float, name: str):
    """EfficientNet's MBConv: inverted residual with a ``kernel`` depthwise conv, squeeze-and-
    excitation, convs without bias, and stochastic depth on the identity path."""
    in_channels = x.shape[-1]
    y = x
    if expansion != 1:
        y = layers.Conv2D(in_channels * expansion, 1, use_bias=False, name=f"{name}_expand")(y)
        y = layers.BatchNormalization(name=f"{name}_expand_bn")(y)
        y = layers.Activation("swish", name=f"{name}_expand_swish")(y)
    y = layers.DepthwiseConv2D(kernel, strides, padding="same", use_bias=False,
                               name=f"{name}_dw")(y)
    y = layers.BatchNormalization(name=f"{name}_dw_bn")(y)
    y = layers.Activation("swish", name=f"{name}_dw_swish")(y)
    y = squeeze_excite(y, max(1, int(in_channels * SE_RATIO)), f"{name}_se")
    y = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_project")(y)
    y = layers.BatchNormalization(name=f"{name}_project_bn")(y)
    if strides == 1 and in_channels == filters:
        if drop > 0:
            y = layers.Dropout(drop, noise_shape=(None, 1, 1, 1), name=f"{name}_drop")(y)
        y = layers.Add(name=f"{name}_add")([x, y])
    return y


def efficientnet_encoder(image, width: float, depth: float, name: str = "enc"):
    """Stem and the seven MBConv stages; returns the stride-4 and stride-32 features."""
    x = layers.Conv2D(scaled_channels(32, width), 3, 2, padding="same", use_bias=False,
                      name=f"{name}_stem_conv")(image)
    x = layers.BatchNormalization(name=f"{name}_stem_bn")(x)
    x = layers.Activation("swish", name=f"{name}_stem_swish")(x)
    plan = [(kernel, math.ceil(depth * repeats), scaled_channels(channels, width), t, s)
            for kernel, repeats, channels, t, s in ENCODER_STAGES]
    blocks, done, stride4 = sum(p[1] for p in plan), 0, None
    for i, (kernel, repeats, channels, expansion, strides) in enumerate(plan):
        for j in range(repeats):
            x = mbconv(x, channels, kernel, expansion, strides if j == 0 else 1,
                       DROP_CONNECT * done / blocks, f"{name}{i + 1}_b{j}")
            done += 1
        if i == 1:
            stride4 = x
    return stride4, x


def ppm_branch(x, name: str):
    """One ESPNet pyramid bin: a plain 3x3/2 Conv2D to 80 channels (no BN, no activation)."""
    return layers.Conv2D(PPM_CHANNELS, 3, 2, padding="same", name=f"{name}_conv")(x)


def build_espnet(num_classes: int, input_shape: tuple = (None, None, 3),
                 scale: str = "s0") -> keras.Model:
    """Base ESPNet ``scale`` as in ``docs/models.md``; class logits at stride 4."""
    width, depth = SCALES[scale]
    image = layers.Input(input_shape, name="image")
    stride4, x = efficientnet_encoder(image, width, depth)
    x = pyramid_pooling(x, PPM_BINS, ppm_branch, "ppm")
    x = up(x, stride4, "head_up")
    x = sep_conv_bn_act(x, HEAD_CHANNELS, 3, 1, "head1", activation="relu")
    x = sep_conv_bn_act(x, HEAD_CHANNELS, 3, 1, "head2", activation="relu")
    logits = classifier_head(x, num_classes, dropout=HEAD_DROPOUT)
    return keras.Model(image, logits, name=f"espnet_{scale}" if scale != "s0" else "espnet")


@register_model("espnet")
def build_espnet_s0(num_classes: int, input_shape: tuple = (None, None, 3)) -> keras.Model:
    """Base ESPNet S0 (EfficientNet-B0 encoder)."""
    return build_espnet(num_classes, input_shape, "s0")
