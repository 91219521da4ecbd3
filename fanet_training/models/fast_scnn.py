"""Fast-SCNN (Poudel, Liwicki, Cipolla, BMVC 2019): two-branch fast segmentation, 1.11M params."""

from __future__ import annotations

import keras
from keras import layers

from fanet_training.models.blocks import (
    classifier_head,
    conv_bn_act,
    feature_fusion,
    pyramid_pooling,
    sep_conv_bn_act,
    stage,
)
from fanet_training.models.registry import register_model

PPM_BINS = (1, 2, 3, 6)


def ppm_branch(x, name: str):
    """One pyramid-pooling bin: 1x1 Conv2D to a quarter of the channels + BN + ReLU."""
    return conv_bn_act(x, x.shape[-1] // 4, 1, 1, name, activation="relu")


@register_model("fast_scnn")
def build_fast_scnn(num_classes: int, input_shape: tuple = (None, None, 3)) -> keras.Model:
    """Fast-SCNN as in ``docs/models.md``; input RGB in [0, 1], output class logits at stride 8."""
    image = layers.Input(input_shape, name="image")
    # Learning to downsample (stride 8): the detail branch.
    x = conv_bn_act(image, 32, 3, 2, "lds1", activation="relu")
    x = sep_conv_bn_act(x, 48, 3, 2, "lds2", activation="relu")
    detail = sep_conv_bn_act(x, 64, 3, 2, "lds3", activation="relu")
    # Global feature extractor (stride 32) with pyramid pooling.
    x = stage(detail, 64, 6, 2, 3, "gfe1", activation="relu")
    x = stage(x, 96, 6, 2, 3, "gfe2", activation="relu")
    x = stage(x, 128, 6, 1, 3, "gfe3", activation="relu")
    x = pyramid_pooling(x, PPM_BINS, ppm_branch, "ppm")
    context = conv_bn_act(x, 128, 1, 1, "ppm_out", activation="relu")
    # Feature fusion at stride 8, then the classifier.
    x = feature_fusion(detail, context, 128, "ffm")
    x = sep_conv_bn_act(x, 128, 3, 1, "head1", activation="relu")
    x = sep_conv_bn_act(x, 128, 3, 1, "head2", activation="relu")
    return keras.Model(image, classifier_head(x, num_classes), name="fast_scnn")
