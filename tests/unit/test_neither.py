"""The "neither" answer in ``catdog.Classifier``, on real full-int8 TFLite models: the prototype similarity
of release 1.3.0 (a second output) and the class probability of a three-class model."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from catdog import Classifier, ModelError, model_input


@pytest.fixture(scope="module")
def neither_model_dir(prototype_model_dir):
    """A tiny untrained int8 model with release 1.3.0's two outputs: cat/dog probabilities and the
    similarity to the nearest of 16 unit prototypes, with a card that enables the check."""
    return prototype_model_dir


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
    with pytest.raises(ValueError, match="no 'nearest-prototype-similarity' check"):
        classifier.pet_scores(np.zeros((1, 32, 32, 3), np.uint8))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"method": "something-else"}, "names no known method"),
        ({"output_size": 10}, "'neither' section does not match"),
        ({"method": "class-probability"}, 'a "neither" label needs'),
    ],
)
def test_given_a_card_that_does_not_match_the_outputs_when_loaded_then_model_error(
    neither_model_dir, tmp_path, change, message
):
    folder = with_threshold(neither_model_dir, tmp_path / "model", 0.1)
    card = json.loads((folder / "model.json").read_text())
    card["neither"] |= change
    (folder / "model.json").write_text(json.dumps(card))

    with pytest.raises(ModelError, match=message):
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


def test_given_a_three_class_model_when_loaded_then_neither_is_a_label_and_there_is_no_pet_score(
    three_class_model_dir, cat_photos
):
    classifier = Classifier(three_class_model_dir)

    prediction = classifier.classify(cat_photos[0])

    assert classifier.labels == classifier.answers == ["cat", "dog", "neither"]
    assert set(prediction.probabilities) == {"cat", "dog", "neither"}
    assert sum(prediction.probabilities.values()) == pytest.approx(1, abs=0.01)
    assert prediction.pet_score is None and "pet_score" not in prediction.as_dict()


@pytest.mark.parametrize("above", [True, False])
def test_given_a_threshold_around_p_neither_when_classified_then_neither_decides_and_confidence_is_its_p(
    three_class_model_dir, tmp_path, cat_photos, above
):
    p_neither = Classifier(three_class_model_dir).classify(cat_photos[0]).probabilities["neither"]
    threshold = p_neither - 1e-3 if above else p_neither + 1e-3
    classifier = Classifier(with_threshold(three_class_model_dir, tmp_path / "model", threshold))

    prediction = classifier.classify(cat_photos[0])

    if above:
        assert (prediction.label, prediction.confidence) == ("neither", p_neither)
    else:  # the more likely pet, with its own probability, whatever p(neither) is
        pets = {k: v for k, v in prediction.probabilities.items() if k != "neither"}
        assert prediction.label == max(pets, key=pets.get)
        assert prediction.confidence == pets[prediction.label]


def raw_outputs(model_dir, photo) -> tuple[dict[str, float], float | None]:
    """The model's probabilities by label and its prototype similarity for ``photo``, as the classifier
    compares them with the threshold: unrounded, unlike a Prediction's."""
    classifier = Classifier(model_dir)
    probabilities, similarity = classifier.outputs(model_input(photo, classifier.input_size))
    by_label = {label: float(p) for label, p in zip(classifier.labels, probabilities, strict=True)}
    return by_label, None if similarity is None else float(similarity[0])


def test_given_a_threshold_exactly_at_a_photos_p_neither_when_classified_then_neither_as_the_card_says(
    three_class_model_dir, tmp_path, cat_photos
):
    p_neither = raw_outputs(three_class_model_dir, cat_photos[0])[0]["neither"]
    classifier = Classifier(with_threshold(three_class_model_dir, tmp_path / "model", p_neither))
    assert classifier.neither.threshold == p_neither  # the card's JSON gives back the very float

    prediction = classifier.classify(cat_photos[0])

    assert prediction.label == "neither"  # "at or above the threshold"
    assert prediction.confidence == round(p_neither, 6)


def test_given_a_threshold_exactly_at_a_photos_pet_score_when_classified_then_a_pet_as_neither_is_below_it(
    neither_model_dir, tmp_path, cat_photos
):
    _, score = raw_outputs(neither_model_dir, cat_photos[0])
    classifier = Classifier(with_threshold(neither_model_dir, tmp_path / "model", score))
    assert classifier.neither.threshold == score

    prediction = classifier.classify(cat_photos[0])

    assert prediction.label in ("cat", "dog")  # "neither" only strictly below the threshold


@pytest.mark.parametrize(
    ("method", "chosen", "stored"),
    [
        ("class-probability", float(np.nextafter(1.0, 2.0)), 1.000001),  # above a val pet's p(neither) 1.0
        ("class-probability", 0.31450049, 0.314501),  # nearest would be 0.3145, at or below what it keeps out
        ("class-probability", 0.3145, 0.3145),  # a card's own value reads back as it is
        ("nearest-prototype-similarity", 0.70000051, 0.7),  # "neither" below T: rounded down
        ("nearest-prototype-similarity", 0.7, 0.7),
    ],
)
def test_given_a_chosen_threshold_when_the_card_stores_it_then_it_answers_neither_for_no_more_photos(
    method, chosen, stored
):
    from catdog.card import NeitherCheck

    assert NeitherCheck(method, chosen).to_dict()["threshold"] == stored


def _png(image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "colour",
    [(0, 0, 0), (255, 255, 255), (128, 128, 128), (30, 90, 200)],
    ids=["black", "white", "grey", "blue"],
)
def test_given_an_image_of_one_flat_colour_when_the_release_classifies_it_then_neither_with_confidence_1(
    serving_model, colour
):
    from PIL import Image

    # GIVEN a frame of one colour (a lens cap, a blank page) that the network itself calls a cat
    photo = _png(Image.new("RGB", (400, 300), colour))
    classifier = Classifier(serving_model)

    # WHEN the released model classifies it
    prediction = classifier.classify(photo)

    # THEN "neither", surely; the probabilities stay the network's
    assert (prediction.label, prediction.confidence) == ("neither", 1.0)
    network = classifier.outputs(model_input(photo, classifier.input_size))[0]
    assert prediction.probabilities == pytest.approx(
        dict(zip(classifier.labels, network, strict=True)), abs=1e-6
    )


def test_given_a_one_pixel_photo_when_classified_then_neither(serving_model, cat_photos):
    from PIL import Image

    # GIVEN a cat photo shrunk to one pixel: enlarged to the model's input it is one flat colour
    photo = _png(Image.open(cat_photos[0]).convert("RGB").resize((1, 1)))

    # WHEN / THEN
    assert Classifier(serving_model).classify(photo).label == "neither"


def test_given_a_dim_low_contrast_photo_when_classified_then_the_network_decides(serving_model, dog_photos):
    from PIL import Image, ImageEnhance

    from catdog.classifier import BLANK_SPREAD

    # GIVEN a real dog photo at a tenth of its contrast (a night shot), still above the blank spread
    classifier = Classifier(serving_model)
    dim = _png(ImageEnhance.Contrast(Image.open(dog_photos[0]).convert("RGB")).enhance(0.1))
    pixels = model_input(dim, classifier.input_size)
    assert BLANK_SPREAD < np.reshape(pixels, (-1, 3)).std(axis=0).max() < 3 * BLANK_SPREAD

    # WHEN classified, THEN it is not taken for blank: the answer is the network's, by the card's rule
    prediction = classifier.classify(dim)
    label, confidence = classifier._answer(*classifier.outputs(pixels))
    assert prediction.label == label and prediction.confidence == pytest.approx(confidence, abs=1e-6)


def test_given_a_model_that_cannot_answer_neither_when_a_blank_image_is_classified_then_cat_or_dog(
    tiny_model_dir,
):
    from PIL import Image

    # GIVEN a plain cat/dog model (no "neither" answer) and a black frame
    prediction = Classifier(tiny_model_dir).classify(_png(Image.new("RGB", (64, 64))))

    # THEN it answers one of its labels, as before
    assert prediction.label in ("cat", "dog")
