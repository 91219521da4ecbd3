"""Small named building blocks shared by FANet and FSFFNet (Keras 3, ``keras.ops`` only).

Notation follows ``docs/models.md``: ``conv`` = Conv2D + BN + swish, ``ds`` =
SeparableConv2D + BN + swish, ``ir`` = inverted residual, ``fuse`` = add +
swish + dilated SeparableConv2D + BN, ``proj`` = 1x1 Conv2D + BN, ``mp`` =
3x3/2 max pool. Upsampling resizes to a reference tensor's spatial shape, so
any input whose sides are multiples of 32 works.
"""

from __future__ import annotations

import keras
from keras import layers, ops
from keras.src import backend as keras_backend

FUSE_BN = {"momentum": 0.997, "epsilon": 1e-4}


@keras.saving.register_keras_serializable(package="fanet_training")
class ResizeLike(layers.Layer):
    """Bilinear resize of ``inputs[0]`` to the height and width of ``inputs[1]``.

    Static sizes go through ``keras.ops.image.resize``. When the size is only
    known at run time (a TF graph traced for any H/W, as in a dynamic ONNX
    export), that wrapper's ``size[0] <= 0`` check cannot run on a symbolic
    size, so the backend's own resize (the function it dispatches to) is used.
    """

    def __init__(self, interpolation: str = "bilinear", **kwargs) -> None:
        super().__init__(**kwargs)
        self.interpolation = interpolation

    def call(self, inputs):
        source, reference = inputs
        size = tuple(ops.shape(reference)[1:3])
        if all(isinstance(side, int) for side in size):
            return ops.image.resize(source, size, interpolation=self.interpolation)
        return keras_backend.image.resize(source, size, interpolation=self.interpolation)

    def compute_output_shape(self, input_shapes):
        source, reference = input_shapes
        return (source[0], reference[1], reference[2], source[3])

    def get_config(self) -> dict:
        return {**super().get_config(), "interpolation": self.interpolation}


def conv_bn_act(x, filters: int, kernel: int, strides: int, name: str):
    """``conv(c,k,s)``: Conv2D + BatchNorm + swish."""
    x = layers.Conv2D(filters, kernel, strides, padding="same", name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation("swish", name=f"{name}_swish")(x)


def sep_conv_bn_act(x, filters: int, kernel: int, strides: int, name: str, dilation: int = 1):
    """``ds(c,k,s)``: SeparableConv2D + BatchNorm + swish."""
    x = layers.SeparableConv2D(
        filters, kernel, strides, padding="same", dilation_rate=dilation, name=f"{name}_sepconv"
    )(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation("swish", name=f"{name}_swish")(x)


def inverted_residual(x, filters: int, expansion: int, strides: int, name: str):
    """``ir(c,t,s)``: 1x1 expand, 3x3 depthwise, 1x1 linear projection; identity if shapes allow."""
    in_channels = x.shape[-1]
    y = layers.Conv2D(expansion * in_channels, 1, name=f"{name}_expand")(x)
    y = layers.BatchNormalization(name=f"{name}_expand_bn")(y)
    y = layers.Activation("swish", name=f"{name}_expand_swish")(y)
    y = layers.DepthwiseConv2D(3, strides, padding="same", name=f"{name}_dw")(y)
    y = layers.BatchNormalization(name=f"{name}_dw_bn")(y)
    y = layers.Activation("swish", name=f"{name}_dw_swish")(y)
    y = layers.Conv2D(filters, 1, name=f"{name}_project")(y)
    y = layers.BatchNormalization(name=f"{name}_project_bn")(y)
    if strides == 1 and in_channels == filters:
        y = layers.Add(name=f"{name}_add")([x, y])
    return y


def stage(x, filters: int, expansion: int, strides: int, repeats: int, name: str):
    """``stage(c,t,s,n)``: one ``ir(c,t,s)`` then ``n-1`` ``ir(c,t,1)``."""
    for i in range(repeats):
        x = inverted_residual(x, filters, expansion, strides if i == 0 else 1, f"{name}_ir{i}")
    return x


def proj(x, name: str, filters: int = 64):
    """``proj``: 1x1 Conv2D + BatchNorm, no activation."""
    x = layers.Conv2D(filters, 1, name=f"{name}_conv")(x)
    return layers.BatchNormalization(name=f"{name}_bn")(x)


def max_pool(x, name: str):
    """``mp``: 3x3 max pool, stride 2, same padding."""
    return layers.MaxPooling2D(3, 2, padding="same", name=name)(x)


def upsample_to(x, reference, name: str):
    """``up``: resize ``x`` to ``reference``'s spatial shape (x2 for the pyramid)."""
    return ResizeLike(name=name)([x, reference])


def fuse(inputs: list, name: str):
    """``fuse``: add, swish, SeparableConv2D(64, 3x3, dilation 2) + BN, no activation."""
    x = layers.Add(name=f"{name}_add")(inputs)
    x = layers.Activation("swish", name=f"{name}_swish")(x)
    x = layers.SeparableConv2D(64, 3, padding="same", dilation_rate=2, name=f"{name}_sepconv")(x)
    return layers.BatchNormalization(name=f"{name}_bn", **FUSE_BN)(x)


def classifier_head(x, num_classes: int, name: str = "classifier"):
    """Class logits at the feature map's stride: 1x1 Conv2D (L2 4e-5), dropout 0.35.

    The builders end here; :func:`add_output_head` (through ``build_model``) adds the
    resize to the image and the softmax where the caller wants them.
    """
    x = layers.Conv2D(
        num_classes, 1, kernel_regularizer=keras.regularizers.L2(4e-5), name=f"{name}_conv"
    )(x)
    return layers.Dropout(0.35, name=f"{name}_dropout")(x)


OUTPUT_KINDS = ("probabilities", "logits", "low_res_logits")
"""What a built model outputs: float32 softmax at the input size (inference, export),
float32 logits at the input size (training with a from-logits loss), or the classifier's
float32 logits at its own stride (the cheap head: the node upsamples labels itself)."""


def add_output_head(model: keras.Model, output: str = "probabilities") -> keras.Model:
    """``model`` (image -> low-resolution logits) with the requested :data:`OUTPUT_KINDS` end.

    The heads hold no weights, so weights saved under one output load under any other.
    """
    if output not in OUTPUT_KINDS:
        raise ValueError(f"unknown output {output!r}; one of {', '.join(OUTPUT_KINDS)}")
    image, x = model.input, model.output
    if output == "low_res_logits":
        x = layers.Activation("linear", dtype="float32", name="logits")(x)
    else:
        x = ResizeLike(name="classifier_upsample")([x, image])
        x = layers.Activation("softmax" if output == "probabilities" else "linear",
                              dtype="float32", name=output)(x)
    return keras.Model(image, x, name=model.name)
