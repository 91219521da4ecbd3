"""FANet (Singha et al., DICTA 2020): fast encoder + bi-directional pyramid, 1.15M params."""

from __future__ import annotations

import keras
from keras import layers

from fanet_training.models.blocks import (
    classifier_head,
    conv_bn_act,
    fuse,
    max_pool,
    proj,
    sep_conv_bn_act,
    stage,
)
from fanet_training.models.blocks import upsample_to as up
from fanet_training.models.registry import register_model


@register_model("fanet", aux_taps=("p4u_bn", "p5u_bn"))
def build_fanet(num_classes: int, input_shape: tuple = (None, None, 3)) -> keras.Model:
    """FANet as in ``docs/models.md``; input RGB in [0, 1], output class logits at stride 8."""
    image = layers.Input(input_shape, name="image")
    # Learning to downsample (stride 8).
    x = conv_bn_act(image, 32, 3, 2, "lds1")
    x = sep_conv_bn_act(x, 48, 3, 2, "lds2")
    c3 = sep_conv_bn_act(x, 64, 3, 2, "lds3")
    # Encoder.
    c4 = stage(c3, 64, 6, 2, 3, "enc1")
    x = stage(c4, 96, 6, 2, 3, "enc2")
    c5 = stage(x, 128, 6, 1, 3, "enc3")
    # Pyramid inputs; P6, P5td and P5o each project C5 with their own 1x1 conv.
    p5 = proj(c5, "p5_proj")
    p6 = max_pool(p5, "p6_pool")
    p7 = max_pool(p6, "p7_pool")
    # Top-down.
    p6td = fuse([p6, up(p7, p6, "p6td_up")], "p6td")
    p5td = fuse([proj(c5, "p5td_proj"), up(p6td, p5, "p5td_up")], "p5td")
    p4td = fuse([c4, up(p5td, c4, "p4td_up")], "p4td")
    p3o = fuse([c3, up(p4td, c3, "p3o_up")], "p3o")
    # Bottom-up.
    p4o = fuse([c4, p4td, max_pool(p3o, "p4o_pool")], "p4o")
    p5o = fuse([proj(c5, "p5o_proj"), p5td, max_pool(p4o, "p5o_pool")], "p5o")
    p6o = fuse([p6, p6td, max_pool(p5o, "p6o_pool")], "p6o")
    p7o = fuse([p7, max_pool(p6o, "p7o_pool")], "p7o")
    # Final top-down.
    p6u = fuse([up(p7o, p6, "p6u_up"), p6o, p6], "p6u")
    p5u = fuse([p5o, up(p6u, p5o, "p5u_up")], "p5u")
    p4u = fuse([p4o, up(p5u, p4o, "p4u_up")], "p4u")
    p3u = fuse([c3, p3o, up(p4u, c3, "p3u_up")], "p3u")
    # Classifier.
    x = sep_conv_bn_act(p3u, 64, 3, 1, "head1")
    x = sep_conv_bn_act(x, 64, 3, 1, "head2")
    return keras.Model(image, classifier_head(x, num_classes), name="fanet")
