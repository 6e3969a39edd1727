"""The released model's "neither" answer through every consumer: Classifier, the classify Lambda's label
JSON, the bulk rows and the CLI summary, on real photos without pets (tests/fixtures/not-pets)."""

from __future__ import annotations

import json
import subprocess
import sys

import boto3
import pytest
from conftest import FIXTURES, RELEASED_MODEL, released_card
from lambda_harness import LambdaContext, aws_environment, load_handler
from moto import mock_aws
from sample_events import sample_event

from catdog import Classifier, bulk

NOT_PETS = FIXTURES / "not-pets"
ROCKET = NOT_PETS / "rocket.jpg"
BUCKET = "catdog-neither-test"


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(RELEASED_MODEL)


def test_given_photos_without_pets_when_classified_then_almost_all_are_neither(classifier):
    photos = sorted(NOT_PETS.glob("*.jpg"))

    labels = [classifier.classify(photo).label for photo in photos]

    assert len(photos) == 60
    assert labels.count("neither") >= 57  # measured: release 2.1.0 60, 2.0.0 59 (1.3.0: 55)
    assert classifier.classify(ROCKET).label == "neither"


def test_given_real_cat_and_dog_photos_when_classified_then_none_is_neither(
    classifier, cat_photos, dog_photos
):
    labels = [classifier.classify(photo).label for photo in cat_photos + dog_photos]

    assert "neither" not in labels


def test_given_cat_and_dog_photos_from_other_sources_when_classified_then_each_gets_its_animal(classifier):
    photos = sorted((FIXTURES / "other-pets").glob("*/*.jpg"))

    answers = {photo.relative_to(FIXTURES): classifier.classify(photo).label for photo in photos}

    assert len(answers) == 18
    assert "neither" not in answers.values()
    assert sum(answer == path.parent.name for path, answer in answers.items()) >= 17  # measured: 18


def test_given_a_photo_without_pets_uploaded_when_the_lambda_runs_then_its_label_json_says_neither(
    monkeypatch,
):
    aws_environment(monkeypatch, RELEASED_MODEL)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        key = "uploads/space/rocket.jpg"
        s3.put_object(Bucket=BUCKET, Key=key, Body=ROCKET.read_bytes())

        load_handler("classify").lambda_handler(sample_event("s3-put.json", BUCKET, key=key), LambdaContext())

        label = json.loads(s3.get_object(Bucket=BUCKET, Key="labels/space/rocket.jpg.json")["Body"].read())
    assert label["label"] == "neither"
    assert set(label["probabilities"]) == {"cat", "dog", "neither"}
    # the confidence of "neither" is its probability, at or above the threshold chosen on validation
    assert label["confidence"] == label["probabilities"]["neither"] >= released_card()["neither"]["threshold"]
    assert "pet_score" not in label


def test_given_a_folder_with_a_rocket_and_a_cat_when_bulk_classified_then_rows_say_neither_and_cat(
    cat_photos,
):
    rows = list(bulk.classify_all([str(ROCKET), str(cat_photos[0])], RELEASED_MODEL, workers=1))

    assert [row["label"] for row in rows] == ["neither", "cat"]
    assert [row["confidence"] for row in rows] == [row["probabilities"][row["label"]] for row in rows]


def test_given_the_cli_when_it_classifies_pets_and_not_pets_then_the_summary_counts_neither(
    tmp_path, cat_photos
):
    output = tmp_path / "labels.csv"
    command = [sys.executable, "-m", "catdog", "classify", str(ROCKET), str(cat_photos[0])]
    result = subprocess.run(
        [*command, "--model", str(RELEASED_MODEL), "-o", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "cat 1, dog 0, neither 1, errors 0" in result.stderr
    header, *lines = output.read_text().splitlines()
    assert header.split(",")[:6] == ["path", "label", "confidence", "p_cat", "p_dog", "p_neither"]
    assert [line.split(",")[1] for line in lines] == ["neither", "cat"]
