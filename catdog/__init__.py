"""catdog: a cat-vs-dog photo classifier served from a full-int8 TFLite model."""

from catdog.classifier import Classifier, ModelError, Prediction
from catdog.images import ImageTooLarge, InvalidImage, load_image, preprocess

__all__ = [
    "Classifier",
    "ImageTooLarge",
    "InvalidImage",
    "ModelError",
    "Prediction",
    "load_image",
    "preprocess",
]
__version__ = "0.1.0"
