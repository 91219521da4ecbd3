"""Small named building blocks shared by the registry's models (Keras 3, ``keras.ops`` only).

Notation follows ``docs/models.md``: ``conv`` = Conv2D + BN + activation (swish
unless a model says otherwise), ``ds`` = SeparableConv2D + BN + activation,
``ir`` = inverted residual, ``fuse`` = add + swish + dilated SeparableConv2D +
BN, ``proj`` = 1x1 Conv2D + BN, ``mp`` = 3x3/2 max pool, ``ppm`` = pyramid
pooling, ``ffm`` = the two-branch feature fusion of Fast-SCNN and ContextNet.
Upsampling resizes to a reference tensor's spatial shape and pooling bins adapt
to the map's size, so any input whose sides are multiples of 32 works.
"""

from __future__ import annotations

from collections.abc import Callable

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


@keras.saving.register_keras_serializable(package="fanet_training")
class AdaptiveAveragePooling(layers.Layer):
    """Average pooling to a fixed ``bins x bins`` grid, whatever the map's size.

    Bin ``i`` of a side of ``n`` positions averages positions ``floor(i n / bins)`` to
    ``ceil((i + 1) n / bins) - 1``, so bins overlap where ``n`` is not a multiple of
    ``bins`` and none is empty when ``n < bins``. It is two matrix products with
    averaging matrices built from the map's shape (``MatMul``, ``Range``, ``Min``, ``Max`` in
    ONNX), so a graph exported with dynamic height and width pools correctly too.
    """

    def __init__(self, bins: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.bins = bins

    def _averaging_matrix(self, size, dtype):
        """``[bins, size]``: row ``i`` holds ``1 / len`` over bin ``i``'s positions."""
        position = ops.cast(ops.arange(size), "float32")[None, :]  # static size stays static
        size = ops.cast(size, "float32")
        index = ops.arange(self.bins, dtype="float32")
        start = ops.floor(index * size / self.bins)[:, None]
        end = ops.ceil((index + 1.0) * size / self.bins)[:, None]
        # Integer-valued floats: clip(p - start + 1, 0, 1) is 1 where p >= start, and
        # clip(end - p, 0, 1) is 1 where p < end (no comparison ops in the graph).
        inside = ops.clip(position - start + 1.0, 0.0, 1.0) * ops.clip(end - position, 0.0, 1.0)
        return ops.cast(inside / ops.sum(inside, axis=1, keepdims=True), dtype)

    def call(self, inputs):
        shape = ops.shape(inputs)
        rows = self._averaging_matrix(shape[1], inputs.dtype)
        cols = self._averaging_matrix(shape[2], inputs.dtype)
        channels_first = ops.transpose(inputs, (0, 3, 1, 2))  # [N, C, H, W]
        pooled = ops.matmul(ops.matmul(rows, channels_first), ops.transpose(cols))
        return ops.transpose(pooled, (0, 2, 3, 1))  # [N, bins, bins, C]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.bins, self.bins, input_shape[3])

    def get_config(self) -> dict:
        return {**super().get_config(), "bins": self.bins}


def conv_bn_act(x, filters: int, kernel: int, strides: int, name: str,
                activation: str = "swish"):
    """``conv(c,k,s)``: Conv2D + BatchNorm + activation."""
    x = layers.Conv2D(filters, kernel, strides, padding="same", name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation(activation, name=f"{name}_{activation}")(x)


def sep_conv_bn_act(x, filters: int, kernel: int, strides: int, name: str, dilation: int = 1,
                    activation: str = "swish"):
    """``ds(c,k,s)``: SeparableConv2D + BatchNorm + activation."""
    x = layers.SeparableConv2D(
        filters, kernel, strides, padding="same", dilation_rate=dilation, name=f"{name}_sepconv"
    )(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation(activation, name=f"{name}_{activation}")(x)


def inverted_residual(x, filters: int, expansion: int, strides: int, name: str,
                      activation: str = "swish"):
    """``ir(c,t,s)``: 1x1 expand, 3x3 depthwise, 1x1 linear projection; identity if shapes allow."""
    in_channels = x.shape[-1]
    y = layers.Conv2D(expansion * in_channels, 1, name=f"{name}_expand")(x)
    y = layers.BatchNormalization(name=f"{name}_expand_bn")(y)
    y = layers.Activation(activation, name=f"{name}_expand_{activation}")(y)
    y = layers.DepthwiseConv2D(3, strides, padding="same", name=f"{name}_dw")(y)
    y = layers.BatchNormalization(name=f"{name}_dw_bn")(y)
    y = layers.Activation(activation, name=f"{name}_dw_{activation}")(y)
    y = layers.Conv2D(filters, 1, name=f"{name}_project")(y)
    y = layers.BatchNormalization(name=f"{name}_project_bn")(y)
    if strides == 1 and in_channels == filters:
        y = layers.Add(name=f"{name}_add")([x, y])
    return y


def stage(x, filters: int, expansion: int, strides: int, repeats: int, name: str,
          activation: str = "swish"):
    """``stage(c,t,s,n)``: one ``ir(c,t,s)`` then ``n-1`` ``ir(c,t,1)``."""
    for i in range(repeats):
        x = inverted_residual(x, filters, expansion, strides if i == 0 else 1, f"{name}_ir{i}",
                              activation)
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


def pyramid_pooling(x, bins: tuple[int, ...], branch: Callable, name: str):
    """``ppm``: ``x`` concatenated with, per bin count ``b``, ``branch`` applied to ``x``
    average-pooled to ``b x b`` and resized back to ``x``'s size (PSPNet's pyramid pooling;
    what each branch computes is the model's choice: ``branch(pooled, name)``)."""
    pooled = []
    for b in bins:
        y = AdaptiveAveragePooling(b, name=f"{name}_pool{b}")(x)
        y = branch(y, f"{name}_bin{b}")
        pooled.append(ResizeLike(name=f"{name}_bin{b}_up")([y, x]))
    return layers.Concatenate(name=f"{name}_concat")([x, *pooled])


def feature_fusion(high, low, filters: int, name: str, dilation: int = 4):
    """``ffm``: Fast-SCNN's and ContextNet's fusion of a detail map and a context map.

    ``low`` (coarse) is resized to ``high``'s size, then a 3x3 depthwise conv (dilation
    ``dilation``) + BN + ReLU and a 1x1 Conv2D + BN; ``high`` gets its own 1x1 Conv2D + BN;
    the sum goes through a ReLU.
    """
    y = upsample_to(low, high, f"{name}_low_up")
    y = layers.DepthwiseConv2D(3, padding="same", dilation_rate=dilation, name=f"{name}_low_dw")(y)
    y = layers.BatchNormalization(name=f"{name}_low_dw_bn")(y)
    y = layers.Activation("relu", name=f"{name}_low_dw_relu")(y)
    y = proj(y, f"{name}_low_proj", filters)
    x = layers.Add(name=f"{name}_add")([proj(high, f"{name}_high_proj", filters), y])
    return layers.Activation("relu", name=f"{name}_relu")(x)


HEAD_DROPOUT_LAYER = "classifier_dropout"
"""The dropout layer :func:`classifier_head` ends in (its default name)."""


def classifier_head(x, num_classes: int, name: str = "classifier", dropout: float = 0.35):
    """Class logits at the feature map's stride: 1x1 Conv2D (L2 4e-5), dropout (0.35 unless
    the model says otherwise).

    The builders end here; :func:`add_output_head` (through ``build_model``) adds the
    resize to the image and the softmax where the caller wants them.
    """
    x = layers.Conv2D(
        num_classes, 1, kernel_regularizer=keras.regularizers.L2(4e-5), name=f"{name}_conv"
    )(x)
    return layers.Dropout(dropout, name=f"{name}_dropout")(x)


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
