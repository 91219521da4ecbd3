"""FSFFNet / MsFFNet (ICONIP 2021): MobileNetV2-like encoder, ASPP-like module, BiFPN, 1.24M."""

from __future__ import annotations

import keras
from keras import layers

from fanet_training.models.blocks import (
    ResizeLike,
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


def feature_scaling(x, name: str = "fsm"):
    """Three dilated separable convs (6, 12, 18) and an image-pooling branch, concatenated.

    The pooling branch resizes back to ``x``'s own shape, so no input size is baked in.
    """
    branches = []
    for rate in (6, 12, 18):
        y = layers.SeparableConv2D(
            40, 3, padding="same", dilation_rate=rate, name=f"{name}_d{rate}_sepconv"
        )(x)
        y = layers.BatchNormalization(name=f"{name}_d{rate}_bn")(y)
        branches.append(layers.Activation("relu", name=f"{name}_d{rate}_relu")(y))
    pooled = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    pooled = layers.Conv2D(40, 1, use_bias=False, name=f"{name}_pool_conv")(pooled)
    pooled = layers.BatchNormalization(name=f"{name}_pool_bn")(pooled)
    pooled = layers.Activation("relu", name=f"{name}_pool_relu")(pooled)
    branches.append(ResizeLike(name=f"{name}_pool_resize")([pooled, x]))
    return layers.Concatenate(name=f"{name}_concat")(branches)


def decoder(p3u, c2, c1, name: str = "dec"):
    """Stride 8 -> 2: two resize + dilated depthwise steps with skips from C2 and C1."""
    x = up(p3u, c2, f"{name}_up1")
    x = layers.DepthwiseConv2D(3, padding="same", dilation_rate=2, name=f"{name}_dw1")(x)
    x = layers.BatchNormalization(name=f"{name}_dw1_bn")(x)
    x = layers.Activation("swish", name=f"{name}_dw1_swish")(x)
    x = layers.Add(name=f"{name}_c2_add")([x, proj(c2, f"{name}_c2_proj")])
    x = layers.Activation("swish", name=f"{name}_c2_swish")(x)
    x = up(x, c1, f"{name}_up2")
    x = layers.DepthwiseConv2D(3, padding="same", dilation_rate=2, name=f"{name}_dw2")(x)
    x = layers.BatchNormalization(name=f"{name}_dw2_bn")(x)
    x = layers.Activation("swish", name=f"{name}_dw2_swish")(x)
    x = layers.Conv2D(48, 1, name=f"{name}_conv48")(x)
    skip = proj(c1, f"{name}_c1_proj", filters=48)
    x = layers.Add(name=f"{name}_c1_add")([x, skip])
    return layers.Activation("swish", name=f"{name}_c1_swish")(x)


@register_model("fsffnet", aux_taps=("p4u_bn", "p5u_bn"))
def build_fsffnet(num_classes: int, input_shape: tuple = (None, None, 3)) -> keras.Model:
    """FSFFNet as in ``docs/models.md`` (P6 from the 64-channel projection of C5)."""
    image = layers.Input(input_shape, name="image")
    c1 = conv_bn_act(image, 32, 3, 2, "stem")
    x = stage(c1, 24, 1, 2, 1, "enc1")
    c2 = stage(x, 32, 6, 1, 2, "enc2")
    x = stage(c2, 48, 6, 2, 3, "enc3")
    c3 = stage(x, 64, 6, 1, 2, "enc4")
    x = stage(c3, 96, 6, 2, 3, "enc5")
    c4 = stage(x, 128, 6, 1, 2, "enc6")
    x = stage(c4, 160, 6, 2, 1, "enc7")
    c5 = feature_scaling(x)
    # Pyramid inputs.
    p5 = proj(c5, "p5_proj")
    p6 = max_pool(p5, "p6_pool")
    p7 = max_pool(p6, "p7_pool")
    p3 = proj(c3, "p3_proj")
    p4 = proj(c4, "p4_proj")
    # Top-down.
    p6td = fuse([p6, up(p7, p6, "p6td_up")], "p6td")
    p5td = fuse([p5, up(p6td, p5, "p5td_up")], "p5td")
    p4td = fuse([p4, up(p5td, p4, "p4td_up")], "p4td")
    p3o = fuse([p3, up(p4td, p3, "p3o_up")], "p3o")
    # Bottom-up.
    p4o = fuse([p4td, max_pool(p3o, "p4o_pool")], "p4o")
    p5o = fuse([p5td, max_pool(p4o, "p5o_pool")], "p5o")
    p6o = fuse([p6td, max_pool(p5o, "p6o_pool")], "p6o")
    p7o = fuse([p7, max_pool(p6o, "p7o_pool")], "p7o")
    # Final top-down.
    p6u = fuse([p6, up(p7o, p6, "p6u_up"), p6o], "p6u")
    p5u = fuse([p5, p5o, up(p6u, p5, "p5u_up")], "p5u")
    p4u = fuse([p4, p4o, up(p5u, p4, "p4u_up")], "p4u")
    p3u = fuse([c3, p3o, up(p4u, c3, "p3u_up")], "p3u")
    x = decoder(p3u, c2, c1)
    x = sep_conv_bn_act(x, 48, 3, 1, "head1", dilation=2)
    x = sep_conv_bn_act(x, 32, 3, 1, "head2", dilation=2)
    return keras.Model(image, classifier_head(x, num_classes), name="fsffnet")
