"""Shared fixtures: real photos from tests/fixtures and small, real TFLite models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
PHOTOS = FIXTURES / "photos"
REPO = Path(__file__).parent.parent
RELEASED_MODEL = REPO / "models" / "catdog"


@pytest.fixture(scope="session")
def cat_photos() -> list[Path]:
    return sorted((PHOTOS / "cat").glob("*.jpg"))


@pytest.fixture(scope="session")
def dog_photos() -> list[Path]:
    return sorted((PHOTOS / "dog").glob("*.jpg"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """An untrained but real full-int8 TFLite model (32 px) with its model card."""
    import numpy as np
    import tensorflow as tf

    keras = tf.keras
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs, outputs)

    def representative():
        rng = np.random.default_rng(0)
        for _ in range(8):
            yield [rng.integers(0, 256, (1, 32, 32, 3)).astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    folder = tmp_path_factory.mktemp("tiny-model")
    (folder / "model.tflite").write_bytes(converter.convert())
    card = {"name": "tiny", "version": "0.0.0", "labels": ["cat", "dog"]}
    (folder / "model.json").write_text(json.dumps(card))
    return folder
