"""The "neither" answer in ``catdog.Classifier``, on a real two-output full-int8 TFLite model."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from catdog import Classifier, ModelError
from catdog.classifier import NEITHER_METHOD


@pytest.fixture(scope="module")
def neither_model_dir(tmp_path_factory, cat_photos, dog_photos):
    """A tiny untrained int8 model with the released model's two outputs: cat/dog probabilities and the
    similarity to the nearest of 16 unit prototypes, exported by the training code, with a card that
    enables the check."""
    import keras

    from catdog import load_image, preprocess
    from training.export import export_model, update_card
    from training.neither import card_section

    keras.utils.set_random_seed(1)
    pixels = keras.Input((32, 32, 3), name="pixels")
    x = keras.layers.Rescaling(1 / 255)(pixels)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    unit = keras.layers.UnitNormalization()(x)
    similarity = keras.ops.max(keras.layers.Dense(16, use_bias=False)(unit), axis=-1, keepdims=True)
    outputs = [keras.layers.Dense(2, activation="softmax")(x), similarity]
    model = keras.Model(pixels, outputs, name="tiny_neither")
    calibration = np.concatenate([preprocess(load_image(p), 32) for p in cat_photos[:4] + dog_photos[:4]])
    folder = export_model(model, tmp_path_factory.mktemp("neither"), representative=calibration)
    update_card(folder, neither=card_section(0.0))
    return folder


def with_threshold(source, target, threshold: float):
    shutil.copytree(source, target)
    card = json.loads((target / "model.json").read_text())
    card["neither"]["threshold"] = threshold
    (target / "model.json").write_text(json.dumps(card))
    return target


def test_given_a_model_with_the_check_when_loaded_then_neither_is_one_of_its_answers(neither_model_dir):
    classifier = Classifier(neither_model_dir)

    assert classifier.answers == ["cat", "dog", "neither"]


def test_given_a_threshold_around_a_photos_score_when_classified_then_it_decides_neither(
    neither_model_dir, tmp_path, cat_photos
):
    score = float(Classifier(neither_model_dir).classify(cat_photos[0]).pet_score)
    above = Classifier(with_threshold(neither_model_dir, tmp_path / "above", score + 1e-4))
    below = Classifier(with_threshold(neither_model_dir, tmp_path / "below", score - 1e-4))

    neither, pet = above.classify(cat_photos[0]), below.classify(cat_photos[0])

    assert neither.label == "neither"
    assert neither.confidence == pytest.approx(1 - score, abs=1e-6)
    assert pet.label in ("cat", "dog")
    assert neither.probabilities == pet.probabilities  # still over cat and dog
    assert set(neither.as_dict()) == {"label", "confidence", "probabilities", "pet_score"}


def test_given_a_batch_when_scored_then_the_same_scores_as_one_by_one(neither_model_dir, dog_photos):
    from catdog import load_image, preprocess

    classifier = Classifier(neither_model_dir)
    pixels = np.concatenate([preprocess(load_image(p), 32) for p in dog_photos[:3]])

    scores = classifier.pet_scores(pixels)

    assert scores == pytest.approx(
        [classifier.classify_pixels(image).pet_score for image in pixels], abs=1e-6
    )


def test_given_a_model_without_the_check_when_classified_then_no_pet_score(tiny_model_dir, cat_photos):
    classifier = Classifier(tiny_model_dir)

    assert classifier.answers == ["cat", "dog"]
    assert "pet_score" not in classifier.classify(cat_photos[0]).as_dict()
    with pytest.raises(ValueError, match="no 'neither' check"):
        classifier.pet_scores(np.zeros((1, 32, 32, 3), np.uint8))


@pytest.mark.parametrize(
    "change",
    [
        {"method": "something-else"},
        {"output_size": 10},
    ],
)
def test_given_a_card_that_does_not_match_the_outputs_when_loaded_then_model_error(
    neither_model_dir, tmp_path, change
):
    folder = with_threshold(neither_model_dir, tmp_path / "model", 0.1)
    card = json.loads((folder / "model.json").read_text())
    card["neither"] |= change
    (folder / "model.json").write_text(json.dumps(card))

    with pytest.raises(ModelError, match="'neither' section does not match"):
        Classifier(folder)


def test_given_two_outputs_and_no_neither_section_when_classified_then_cat_or_dog_only(
    neither_model_dir, tmp_path, cat_photos
):
    folder = with_threshold(neither_model_dir, tmp_path / "model", 1.0)
    card = json.loads((folder / "model.json").read_text())
    del card["neither"]
    (folder / "model.json").write_text(json.dumps(card))

    prediction = Classifier(folder).classify(cat_photos[0])

    assert prediction.label in ("cat", "dog")
    assert prediction.pet_score is None


def test_given_the_card_section_then_it_names_the_method_the_classifier_knows():
    from training.neither import card_section

    assert card_section(0.01)["method"] == NEITHER_METHOD
