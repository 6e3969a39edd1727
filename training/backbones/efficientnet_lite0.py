"""EfficientNet-Lite0 in Keras 3: ``training.backbones.efficientnet_lite`` at width 1.0, depth 1.0, 224 px.

Kept as the name the transfer recipe, the "neither" prototypes and the model registry use; the network,
the weights reader and the scaling rules of Lite1 and Lite2 live in ``efficientnet_lite``.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras

from training.backbones import efficientnet_lite

SPEC = efficientnet_lite.SPECS["efficientnet_lite0"]
NAME = SPEC.name
DESCRIPTION = SPEC.description
DEFAULT_SIZE = SPEC.native_size


def packaged_weights() -> Path:
    return efficientnet_lite.packaged_weights(SPEC)


def build(
    input_size: int = DEFAULT_SIZE,
    *,
    weights: str | os.PathLike | None = "imagenet",
    include_top: bool = False,
    name: str = NAME,
) -> keras.Model:
    return efficientnet_lite.build(input_size, spec=SPEC, weights=weights, include_top=include_top, name=name)


def build_split(
    input_size: int, cut: int, *, weights: str | os.PathLike | None = "imagenet"
) -> tuple[keras.Model, keras.Model]:
    return efficientnet_lite.build_split(input_size, cut, spec=SPEC, weights=weights)
