"""Deep supervision: auxiliary classifiers on lower-resolution branches, for training only.

Each tap (``AUX_TAPS`` of the registry) gets a small head: a separable conv block and a
1x1 classifier, upsampled to the input like the main output. The loss adds their
cross-entropy with a small weight; the exported model is the base model without them
(their layers are not in it), so inference costs nothing more.
"""

from __future__ import annotations

import keras
from keras import layers

from fanet_training.models.blocks import ResizeLike, sep_conv_bn_act
from fanet_training.models.registry import AUX_TAPS


def aux_head_names(model_name: str) -> tuple[str, ...]:
    """Names of the auxiliary outputs that :func:`with_auxiliary_heads` adds."""
    return tuple(f"aux_{tap}_logits" for tap in AUX_TAPS.get(model_name, ()))


def with_auxiliary_heads(model: keras.Model, model_name: str, num_classes: int) -> keras.Model:
    """``model`` (image -> logits at the input size) with one more output per tap.

    The returned model shares every layer with ``model``; its outputs are
    ``[main logits, aux logits...]``, all float32 at the input size.
    """
    taps = AUX_TAPS.get(model_name, ())
    if not taps:
        raise ValueError(f"model {model_name!r} has no branches registered for deep supervision")
    image = model.input
    outputs = [model.output]
    for tap in taps:
        x = sep_conv_bn_act(model.get_layer(tap).output, 64, 3, 1, f"aux_{tap}")
        x = layers.Conv2D(num_classes, 1, name=f"aux_{tap}_classifier")(x)
        x = ResizeLike(name=f"aux_{tap}_upsample")([x, image])
        outputs.append(layers.Activation("linear", dtype="float32", name=f"aux_{tap}_logits")(x))
    return keras.Model(image, outputs, name=f"{model.name}_deep_supervision")
