"""Make the tiny full-int8 TFLite models in tests/fixtures/models/, once, with the training export.

The serving tests (catdog, the handlers, the CLI) load these committed files instead of building models
through Keras, so they run without TensorFlow. Each is untrained (random weights, seeded), 32 px, and
made by ``training.export.export_model`` exactly as a release is:

    tiny/             cat/dog probabilities: a model without a "neither" check
    tiny-prototype/   + the prototype-similarity output of release 1.3.0 (threshold 0: never "neither")
    tiny-three-class/ cat/dog/neither probabilities, "neither" at p >= 0.5 (the 2.0.0 contract)

Run from the repository root with the training packages (``scripts/setup.sh --train``):

    .venv/bin/python scripts/make_tiny_models.py
"""

from __future__ import annotations

import shutil
from pathlib import Path

import keras
import numpy as np

from catdog import model_input
from catdog.card import CLASS_PROBABILITY, NEITHER, NeitherCheck
from training.export import export_model, update_card
from training.neither import card_section

REPO = Path(__file__).resolve().parent.parent
PHOTOS = REPO / "tests" / "fixtures" / "photos"
OUT = REPO / "tests" / "fixtures" / "models"
SIZE = 32


def features(pixels):
    x = keras.layers.Rescaling(1 / 255)(pixels)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(x)
    return keras.layers.GlobalAveragePooling2D()(x)


def build(kind: str) -> keras.Model:
    keras.utils.set_random_seed(0)
    pixels = keras.Input((SIZE, SIZE, 3), name="pixels")
    x = features(pixels)
    if kind == "tiny-prototype":
        unit = keras.layers.UnitNormalization()(x)
        similarity = keras.ops.max(keras.layers.Dense(16, use_bias=False)(unit), axis=-1, keepdims=True)
        return keras.Model(pixels, [keras.layers.Dense(2, activation="softmax")(x), similarity], name=kind)
    classes = 3 if kind == "tiny-three-class" else 2
    return keras.Model(pixels, keras.layers.Dense(classes, activation="softmax")(x), name=kind)


def main() -> None:
    photos = sorted((PHOTOS / "cat").glob("*.jpg"))[:4] + sorted((PHOTOS / "dog").glob("*.jpg"))[:4]
    calibration = np.stack([model_input(path, SIZE) for path in photos])
    for kind in ("tiny", "tiny-prototype", "tiny-three-class"):
        folder = OUT / kind
        shutil.rmtree(folder, ignore_errors=True)
        labels = ("cat", "dog", NEITHER) if kind == "tiny-three-class" else ("cat", "dog")
        card = {"name": kind, "version": "0.0.0"}
        if kind == "tiny-three-class":
            card[NEITHER] = NeitherCheck(CLASS_PROBABILITY, 0.5).to_dict()
        export_model(build(kind), folder, representative=calibration, card=card, labels=labels)
        if kind == "tiny-prototype":
            update_card(folder, neither=card_section(0.0))
        print(f"wrote {folder.relative_to(REPO)}")


if __name__ == "__main__":
    main()
