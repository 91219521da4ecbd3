"""ContextNet-14 (Poudel, Bonde, Liwicki, Zach, BMVC 2018): full-resolution detail branch and a
context branch on the image at a quarter of its size, fused at stride 8; 0.85M params."""

from __future__ import annotations

import keras
from keras import layers

from fanet_training.models.blocks import (
    classifier_head,
    conv_bn_act,
    feature_fusion,
    sep_conv_bn_act,
    stage,
)
from fanet_training.models.registry import register_model

CONTEXT_DOWNSAMPLING = 4
"""ContextNet-14: the context branch sees the image at 1/4 of its height and width."""


def detail_branch(image, name: str = "detail"):
    """Full resolution -> stride 8, 128 channels: one conv and three depthwise-separable convs."""
    x = conv_bn_act(image, 32, 3, 2, f"{name}1", activation="relu")
    x = sep_conv_bn_act(x, 64, 3, 2, f"{name}2", activation="relu")
    x = sep_conv_bn_act(x, 128, 3, 2, f"{name}3", activation="relu")
    return sep_conv_bn_act(x, 128, 3, 1, f"{name}4", activation="relu")


def context_branch(image, name: str = "context"):
    """Image / 4 (4x4 average pooling) -> stride 32 overall, 128 channels (the last
    bottleneck's output: no convolution follows it)."""
    x = layers.AveragePooling2D(CONTEXT_DOWNSAMPLING, name=f"{name}_downsample")(image)
    x = conv_bn_act(x, 32, 3, 2, f"{name}_stem", activation="relu")
    for i, (channels, expansion, strides, repeats) in enumerate(
        ((32, 1, 1, 1), (32, 6, 1, 1), (48, 6, 2, 3), (64, 6, 2, 3), (96, 6, 1, 2), (128, 6, 1, 2))
    ):
        x = stage(x, channels, expansion, strides, repeats, f"{name}{i + 1}", activation="relu")
    return x


@register_model("contextnet")
def build_contextnet(num_classes: int, input_shape: tuple = (None, None, 3)) -> keras.Model:
    """ContextNet-14 as in ``docs/models.md``; input RGB in [0, 1], class logits at stride 8."""
    image = layers.Input(input_shape, name="image")
    x = feature_fusion(detail_branch(image), context_branch(image), 128, "ffm")
    x = sep_conv_bn_act(x, 128, 3, 1, "head1", activation="relu")
    x = sep_conv_bn_act(x, 128, 3, 1, "head2", activation="relu")
    return keras.Model(image, classifier_head(x, num_classes), name="contextnet")
