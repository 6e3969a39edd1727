"""Augmentation with Keras preprocessing layers, applied in the input pipeline, never in the model.

Public API:
    augmenter(strength=1.0, seed=None) -> keras.Sequential | None   (None when strength is 0)
    save_preview(pixels, path, strength=1.0, per_image=5, seed=0) -> Path

Keeping it out of the exported model means the TFLite file holds only inference ops, and the same
augmenter serves every model in the registry. ``strength`` scales every factor at once: 1.0 is what
the released CNN was trained with, 0.5 is gentler, 0 switches augmentation off.
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
from keras import layers

from training import figures

#: Factors at strength 1.0: fractions of a full turn, of the image size, of contrast.
ROTATION = 0.06  # about +-22 degrees
ZOOM = 0.15
TRANSLATION = 0.1
CONTRAST = 0.2


def augmenter(strength: float = 1.0, seed: int | None = None) -> keras.Sequential | None:
    """Random flip, rotation, zoom, translation and contrast on raw 0..255 float pixels."""
    if strength < 0:
        raise ValueError(f"augmentation strength must be >= 0, got {strength}")
    if strength == 0:
        return None
    return keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(ROTATION * strength, fill_mode="reflect", seed=seed),
            layers.RandomZoom(ZOOM * strength, fill_mode="reflect", seed=seed),
            layers.RandomTranslation(
                TRANSLATION * strength, TRANSLATION * strength, fill_mode="reflect", seed=seed
            ),
            layers.RandomContrast(min(CONTRAST * strength, 0.9), value_range=(0, 255), seed=seed),
        ],
        name="augment",
    )


def save_preview(
    pixels: np.ndarray, path: str | os.PathLike, strength: float = 1.0, per_image: int = 5, seed: int = 0
) -> Path:
    """A grid PNG: each row one photo, first the original, then ``per_image`` augmented versions."""
    plt = figures.pyplot()

    augment = augmenter(strength, seed=seed)
    rows = len(pixels)
    figure, axes = plt.subplots(
        rows, per_image + 1, figsize=(1.6 * (per_image + 1), 1.6 * rows), squeeze=False
    )
    for row, image in enumerate(pixels):
        batch = np.repeat(image[np.newaxis].astype("float32"), per_image, axis=0)
        augmented = batch if augment is None else np.asarray(augment(batch, training=True))
        for column, shown in enumerate([image, *augmented.clip(0, 255).astype("uint8")]):
            axes[row, column].imshow(shown)
            axes[row, column].axis("off")
        axes[row, 0].set_title("original" if row == 0 else "", fontsize=8)
    figure.suptitle(f"augmentation strength {strength}", fontsize=10)
    return figures.save(figure, path, dpi=60)
