"""catdog: a photo classifier (cat, dog or neither) served from a full-int8 TFLite model.

The names below load on first use, so that ``import catdog.settings`` (the web function) does not pay
for numpy, Pillow and LiteRT, which only the functions that classify need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from catdog.card import ModelCard, ModelError
    from catdog.classifier import Classifier, Prediction
    from catdog.images import (
        EmptyImage,
        ImageTooLarge,
        InvalidImage,
        MissingImage,
        load_image,
        model_input,
        preprocess,
    )

_EXPORTS = {
    "Classifier": "catdog.classifier",
    "Prediction": "catdog.classifier",
    "ModelCard": "catdog.card",
    "ModelError": "catdog.card",
    "EmptyImage": "catdog.images",
    "ImageTooLarge": "catdog.images",
    "InvalidImage": "catdog.images",
    "MissingImage": "catdog.images",
    "load_image": "catdog.images",
    "model_input": "catdog.images",
    "preprocess": "catdog.images",
}
__all__ = [
    "Classifier",
    "EmptyImage",
    "ImageTooLarge",
    "InvalidImage",
    "MissingImage",
    "ModelCard",
    "ModelError",
    "Prediction",
    "load_image",
    "model_input",
    "preprocess",
]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'catdog' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
