"""The "neither" check of the training side: prototypes of the training photos' features, the model's
second output, and the whole `python -m training neither` command on a tiny real transfer run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from catdog import Classifier, load_image, preprocess

keras = pytest.importorskip("keras")
from training import neither  # noqa: E402
from training.data import load_arrays  # noqa: E402

pytestmark = pytest.mark.slow


def test_given_features_in_two_directions_when_prototyped_then_unit_centres_in_those_directions():
    rng = np.random.default_rng(0)
    east, north = np.eye(2)
    features = np.concatenate([east * 5 + rng.normal(0, 0.1, (30, 2)), north + rng.normal(0, 0.02, (30, 2))])

    centres = neither.prototypes(features[:, None], count=2)

    assert np.linalg.norm(centres, axis=1) == pytest.approx([1, 1], abs=1e-6)
    assert sorted(np.round(np.abs(centres @ east), 1)) == pytest.approx([0.0, 1.0], abs=0.1)


def test_given_more_prototypes_than_photos_when_prototyped_then_it_says_so_in_the_options_terms():
    features = np.random.default_rng(0).normal(size=(5, 1, 4))

    with pytest.raises(ValueError, match="8 prototypes need as many training photos; there are 5"):
        neither.prototypes(features, count=8)


def test_given_a_transfer_model_when_the_check_is_added_then_probabilities_stay_and_the_similarity_is_cosine(
    transfer_run, cat_photos, dog_photos
):
    _, _, result, _ = transfer_run
    model = result.model
    bottom, top, _ = neither._parts(model)
    pixels = np.concatenate([preprocess(load_image(p), 64) for p in cat_photos[:2] + dog_photos[:2]])
    pixels = pixels.astype(np.float32)
    features = np.asarray(top(bottom(pixels)))
    centres = neither.prototypes(np.random.default_rng(1).random((40, 1, features.shape[1])), count=5)

    probabilities, similarity = neither.with_neither(model, centres)(pixels)

    assert np.asarray(probabilities) == pytest.approx(np.asarray(model(pixels)), abs=1e-6)
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    assert np.asarray(similarity)[:, 0] == pytest.approx((unit @ centres.T).max(axis=1), abs=1e-5)


def test_given_the_run_when_training_features_are_read_then_they_come_from_its_activation_cache(
    transfer_run, cat_photos
):
    split, config, result, _ = transfer_run
    arrays = load_arrays(split, config.input_size, config.cache_dir, parts=("train",))

    def written() -> dict[str, int]:
        return {p.name: p.stat().st_mtime_ns for p in Path(config.cache_dir).iterdir()}

    cached = written()

    features = neither.training_features(result.model, split, arrays, config.cache_dir)

    assert written() == cached  # nothing recomputed: no cache file added or written again
    assert features.shape == (len(split.parts["train"]), 2, 1280)
    bottom, top, _ = neither._parts(result.model)
    direct = np.asarray(top(bottom(arrays["train"][0][:3].astype(np.float32))))
    np.testing.assert_allclose(features[:3, 0], direct, atol=0.05, rtol=0.02)  # float16 cache
    assert not np.allclose(features[:, 0], features[:, 1])  # the mirror image is its own view


def test_given_a_run_when_released_with_the_check_then_card_threshold_and_tradeoff_come_from_int8(
    transfer_run, tmp_path
):
    from conftest import FIXTURES

    from training.__main__ import main

    split, config, _, folder = transfer_run
    split.save(tmp_path / "split.json")
    argv = ["neither", str(folder / "model.keras"), "--split", str(tmp_path / "split.json")]
    argv += ["--out", str(tmp_path / "model"), "--float-out", str(tmp_path / "float")]
    argv += ["--docs", str(tmp_path / "docs"), "--cache", config.cache_dir, "--prototypes", "8"]
    argv += ["--not-pets", str(FIXTURES / "not-pets")]

    assert main(argv) == 0

    card = json.loads((tmp_path / "model" / "model.json").read_text())
    section = card["neither"]
    assert section["method"] == "nearest-prototype-similarity" and section["prototypes"] == 8
    assert 0 < section["threshold"] <= 1
    assert section["measured"]["not_pet_photos"] == len(list((FIXTURES / "not-pets").glob("*.jpg")))
    classifier = Classifier(tmp_path / "model")
    val_pixels = load_arrays(split, config.input_size, config.cache_dir, parts=("val",))["val"][0]
    scores = classifier.pet_scores(val_pixels)
    assert np.all((scores >= 0) & (scores <= 1))
    assert (tmp_path / "docs" / "neither-tradeoff.md").is_file()
    assert (tmp_path / "docs" / "images" / "neither-tradeoff.png").is_file()


def test_given_data_set_photos_without_pets_when_measured_then_they_are_not_counted_as_cat_or_dog_photos():
    from training.data import Sample, Split

    samples = [
        Sample("PetImages/Cat/835.jpg", 0),
        Sample("PetImages/Cat/836.jpg", 0),
        Sample("dog/1773.jpg", 1),
    ]
    split = Split(
        root=Path("."), labels=("cat", "dog"), seed=0, fractions=(0.8, 0.1, 0.1), parts={"val": samples}
    )

    assert neither.shows_a_pet(split, "val").tolist() == [False, True, False]


def test_given_scores_when_the_threshold_is_chosen_then_at_most_the_allowed_right_answers_fall_below_it():
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    correct = np.array([False, True, True, True, True, True, True, True, True, True])

    threshold = neither.choose_threshold(scores, correct, max_cost=0.1)  # 1 of 10 photos may be lost

    assert threshold == 0.3
    assert ((scores < threshold) & correct).sum() == 1


def test_given_the_card_section_then_serving_reads_it_as_the_prototype_check():
    from catdog.card import PROTOTYPE_SIMILARITY, NeitherCheck

    section = neither.card_section(0.01, prototypes=16)

    assert NeitherCheck.from_dict(section) == NeitherCheck(PROTOTYPE_SIMILARITY, 0.01, output_size=1)
