"""``keras.applications`` backbones (VGG16, ResNet50, InceptionV3) from a local weights file.

Keras downloads their ImageNet weights from the internet on first use, which locked-down machines
cannot do. Here the weights are a path: the ``*_notop.h5`` file that Keras would download, fetched once
wherever there is internet (``--weights PATH``). Without a path the network starts from random weights.

Each backbone takes raw RGB 0..255 and applies the preprocessing its weights were trained with
(``caffe``: BGR minus the ImageNet mean; ``tf``: scaled to -1..1) as a layer inside the model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import keras


@dataclass(frozen=True)
class Application:
    constructor: type
    preprocessing: str  # the ``mode`` of keras.applications.imagenet_utils.preprocess_input
    default_size: int
    min_size: int
    weights_file: str  # what Keras names the ImageNet "notop" file


APPLICATIONS = {
    "vgg16": Application(
        keras.applications.VGG16, "caffe", 224, 32, "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    ),
    "resnet50": Application(
        keras.applications.ResNet50, "caffe", 224, 32, "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    ),
    "inception_v3": Application(
        keras.applications.InceptionV3,
        "tf",
        299,
        75,
        "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
    ),
}


@keras.saving.register_keras_serializable(package="catdog")
class ImagenetPreprocessing(keras.layers.Layer):
    """``keras.applications``' own input preprocessing, as a layer, so the model takes raw pixels."""

    def __init__(self, mode: str, **kwargs):
        super().__init__(**kwargs)
        self.mode = mode

    def call(self, inputs):
        return keras.applications.imagenet_utils.preprocess_input(inputs, mode=self.mode)

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}


def build(
    name: str, input_size: int | None = None, *, weights: str | os.PathLike | None = None
) -> keras.Model:
    """Backbone ``name`` from raw pixels to pooled features; ``weights`` is a local ``.h5`` file or None."""
    if name not in APPLICATIONS:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(APPLICATIONS)}")
    spec = APPLICATIONS[name]
    size = input_size or spec.default_size
    if size < spec.min_size:
        raise ValueError(f"{name} needs an input of at least {spec.min_size} px, got {size}")
    if weights is not None and not Path(weights).is_file():
        raise FileNotFoundError(
            f"weights file not found: {weights} (download {spec.weights_file} where there is internet)"
        )
    base = spec.constructor(
        include_top=False,
        weights=None if weights is None else str(weights),
        input_shape=(size, size, 3),
        pooling="avg",
    )
    pixels = keras.Input((size, size, 3), name="pixels")
    features = base(ImagenetPreprocessing(spec.preprocessing, name="imagenet_preprocessing")(pixels))
    return keras.Model(pixels, features, name=name)
