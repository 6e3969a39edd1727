"""The pretrained backbones as ``training.models`` registry entries (imported by ``training.models``).

Each is registered as a classifier: the backbone (frozen by default) under a dropout + softmax head,
raw RGB 0..255 in, probabilities out, so ``python -m training train --model NAME`` trains any of them.
"""

from __future__ import annotations

import keras

from training.backbones import applications, efficientnet_lite0
from training.models import register


def classifier(
    features: keras.Model, num_classes: int, *, dropout: float, freeze: bool, name: str
) -> keras.Model:
    """``features`` (pixels -> pooled vector) under a softmax head; batch norm stays in inference mode."""
    features.trainable = not freeze
    pixels = keras.Input(features.input.shape[1:], name="pixels")
    x = features(pixels, training=False)
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(pixels, outputs, name=name)


@register(
    efficientnet_lite0.NAME,
    default_size=efficientnet_lite0.DEFAULT_SIZE,
    backbone=efficientnet_lite0.DESCRIPTION,
)
def efficientnet_lite0_classifier(
    input_size: int,
    num_classes: int,
    *,
    weights: str | None = "imagenet",
    dropout: float = 0.2,
    freeze: bool = True,
) -> keras.Model:
    features = efficientnet_lite0.build(input_size, weights=weights)
    return classifier(features, num_classes, dropout=dropout, freeze=freeze, name=efficientnet_lite0.NAME)


def _register_application(name: str, spec: applications.Application) -> None:
    @register(name, default_size=spec.default_size, backbone=spec.constructor.__name__)
    def build(
        input_size: int,
        num_classes: int,
        *,
        weights: str | None = None,
        dropout: float = 0.2,
        freeze: bool = True,
    ) -> keras.Model:
        features = applications.build(name, input_size, weights=weights)
        return classifier(features, num_classes, dropout=dropout, freeze=freeze, name=name)


for _name, _spec in applications.APPLICATIONS.items():
    _register_application(_name, _spec)
