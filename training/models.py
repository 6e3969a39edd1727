"""The model registry: a name -> a builder of an untrained Keras classifier.

Public API:
    register(name) -> decorator for ``builder(input_size: int, num_classes: int, **options) -> keras.Model``
    build(name, input_size=None, num_classes=2, **options) -> keras.Model
    MODELS: dict[str, ModelSpec]   (spec.builder, spec.default_size, spec.backbone)

Every registered model takes raw RGB 0..255 pixels ``(size, size, 3)`` and outputs softmax probabilities
in label order: normalization is a layer inside the model, so the exported TFLite model is fed exactly
what ``catdog.preprocess`` returns. A backbone module adds itself with ``@register("name", ...)``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import keras
from keras import layers

from training.model_names import MODEL_NAMES
from training.recipe import RecipeError, typed_options


@dataclass(frozen=True)
class ModelSpec:
    builder: Callable[..., keras.Model]
    default_size: int
    backbone: str  # what the model card records


MODELS: dict[str, ModelSpec] = {}


def register(name: str, *, default_size: int, backbone: str | None = None):
    if name not in MODEL_NAMES:  # the CLI would refuse it: --model takes training.model_names' names only
        raise ValueError(f"model {name!r} is not in training.model_names.MODEL_NAMES: add it there")

    def decorate(builder: Callable[..., keras.Model]) -> Callable[..., keras.Model]:
        MODELS[name] = ModelSpec(builder, default_size, backbone or name)
        return builder

    return decorate


def build(name: str, input_size: int | None = None, num_classes: int = 2, **options) -> keras.Model:
    """Build the registered model ``name``. An option it does not have, or of the wrong type, is a
    one-line ``RecipeError`` (exit status 2) naming it and what the builder takes; an unknown name, and a
    builder's own refusal (an input size too small for it), a one-line ``ValueError``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(sorted(MODELS))}")
    spec = MODELS[name]
    parameters = inspect.signature(spec.builder).parameters.values()
    known = [p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]
    unknown = [option for option in options if option not in known]
    if unknown and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        raise RecipeError(  # exit status 2: said in the option's words, not Python's "unexpected keyword"
            f"model {name!r} has no option {unknown[0]!r}: its options are {', '.join(known)}"
        )
    try:
        options = typed_options(spec.builder, options)
    except RecipeError as exc:  # exit status 2, as for any bad argument
        raise RecipeError(f"bad options for model {name!r}: {exc}") from None
    try:
        return spec.builder(input_size or spec.default_size, num_classes, **options)
    except TypeError as exc:
        raise ValueError(f"bad options for model {name!r}: {exc}") from exc


@register("cnn", default_size=128, backbone="from-scratch CNN")
def cnn(
    input_size: int,
    num_classes: int,
    *,
    stem_filters: int = 32,
    stem_stride: int = 2,
    filters: tuple[int, ...] = (32, 64, 128, 256, 256),
    convs_per_block: int | tuple[int, ...] = 1,
    batch_norm: bool = True,
    bn_momentum: float = 0.99,
    block_dropout: float = 0.1,
    dense_units: int = 128,
    dropout: float = 0.4,
    weight_decay: float = 1e-4,
) -> keras.Model:
    """The seed's from-scratch CNN, made trainable on 2 CPU cores.

    A strided stem conv first: full-resolution 3x3 convs cost three times the epoch time on 2 CPU
    cores for no accuracy we could measure. Then blocks of 3x3 conv (+ batch norm, folded into the conv
    at export) + ReLU, max pooling and dropout; global average pooling instead of a huge flatten, then a
    dense block and the softmax. ``convs_per_block`` is one number or one per block.
    """
    regularizer = keras.regularizers.L2(weight_decay) if weight_decay else None
    convs = (convs_per_block,) * len(filters) if isinstance(convs_per_block, int) else tuple(convs_per_block)
    if len(convs) != len(filters):
        raise ValueError(f"convs_per_block has {len(convs)} entries for {len(filters)} blocks")
    # the stem's "same" conv leaves ceil(size / stride) px and each 2 x 2 pool halves that, rounding
    # down; the last pool must leave 1 px, or Keras fails in many lines of ANSI colour codes
    smallest = stem_stride * (2 ** len(filters) - 1) + 1
    if input_size < smallest:
        raise ValueError(
            f"input size {input_size} is too small for cnn with these options (stem stride {stem_stride}, "
            f"{len(filters)} pooling blocks): at least {smallest} px"
        )
    inputs = keras.Input((input_size, input_size, 3), name="pixels")
    x = layers.Rescaling(1 / 255, name="scale_0_1")(inputs)
    x = _conv_bn_relu(x, stem_filters, stem_stride, batch_norm and bn_momentum, regularizer, "stem")
    for block, (width, count) in enumerate(zip(filters, convs, strict=True)):
        for conv in range(count):
            x = _conv_bn_relu(x, width, 1, batch_norm and bn_momentum, regularizer, f"block{block}_{conv}")
        x = layers.MaxPooling2D(name=f"block{block}_pool")(x)
        if block_dropout:
            x = layers.Dropout(block_dropout, name=f"block{block}_dropout")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if dense_units:
        x = layers.Dense(dense_units, activation="relu", kernel_regularizer=regularizer, name="dense")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="cnn")


def _conv_bn_relu(x, width: int, stride: int, bn_momentum: float, regularizer, name: str):
    """``bn_momentum`` 0 (or False) means no batch norm."""
    x = layers.Conv2D(
        width,
        3,
        strides=stride,
        padding="same",
        use_bias=not bn_momentum,
        kernel_regularizer=regularizer,
        name=f"{name}_conv",
    )(x)
    if bn_momentum:
        x = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


# The pretrained backbones register themselves; imported last, as they use ``register`` from here.
from training.backbones import classifiers  # noqa: E402, F401
