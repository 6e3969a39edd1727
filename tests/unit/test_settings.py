"""Where labels go: one function (``Settings.label_key``) for every writer and for the web API."""

from __future__ import annotations

import hashlib

import pytest
import yaml
from conftest import REPO
from test_template import _CloudFormationLoader

from catdog.settings import MAX_KEY_BYTES, Settings


def long_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def test_given_an_upload_and_a_bulk_object_of_the_same_path_when_keyed_then_their_labels_differ():
    settings = Settings()

    upload, bulk = settings.label_key("uploads/archive/a.jpg"), settings.label_key("archive/a.jpg")

    assert upload == "labels/archive/a.jpg.json"  # the product's contract, unchanged
    assert bulk == "bulk-labels/archive/a.jpg.json"  # the whole key kept, in its own namespace
    assert settings.is_label(upload) and settings.is_label(bulk)
    assert not settings.is_photo("bulk-labels/archive/a.jpg") and not settings.is_upload("labels/a.jpg")


@pytest.mark.parametrize(
    ("key", "prefix"),
    [
        # 1,024 bytes but 518 characters: the limit is S3's, in UTF-8 bytes
        ("uploads/" + "é" * 506 + ".jpg", "labels/"),
        ("archive/" + "a" * 1012 + ".jpg", "bulk-labels/"),
    ],
)
def test_given_a_key_whose_label_key_would_pass_s3s_limit_when_keyed_then_it_is_hashed(key, prefix):
    assert len(key.encode()) == MAX_KEY_BYTES

    label_key = Settings().label_key(key)

    assert label_key == f"{prefix}_long/{long_hash(key)}.json"
    assert len(label_key.encode()) <= MAX_KEY_BYTES


def test_given_the_longest_key_that_fits_when_keyed_then_it_is_mirrored_as_usual():
    key = "uploads/" + "a" * 1008 + ".jpg"  # labels/ + 1,012 + .json = 1,024 bytes

    assert Settings().label_key(key) == f"labels/{key.removeprefix('uploads/')}.json"


def test_given_a_key_that_names_a_hashed_label_when_keyed_then_it_cannot_take_that_label():
    long_key = "uploads/" + "b" * 1016
    hashed = Settings().label_key(long_key)
    forger = f"uploads/_long/{long_hash(long_key)}"

    assert Settings().label_key(forger) != hashed
    assert Settings().label_key(forger) == f"labels/_long/{long_hash(forger)}.json"


@pytest.mark.parametrize(
    "environment",
    [
        {"BULK_LABELS_PREFIX": ""},
        {"LABELS_PREFIX": "uploads/labels/"},
        {"BULK_LABELS_PREFIX": "labels/bulk/"},
        {"UPLOADS_PREFIX": ""},
        {"BATCH_PREFIX": "uploads/batch/"},
    ],
)
def test_given_prefixes_that_overlap_or_are_empty_when_read_then_the_cold_start_fails(environment):
    # an empty or overlapping labels prefix would make every key "a label" (nothing labelled) or
    # make a label an upload (labelled again, and again)
    with pytest.raises(ValueError, match="prefixes must be non-empty"):
        Settings.from_env(environment)


@pytest.mark.parametrize(
    "environment",
    [
        {"MAX_IMAGE_BYTES": "0"},
        {"MAX_IMAGE_BYTES": "-5"},
        {"MAX_PIXELS": "1.5"},
        {"MAX_PIXELS": "lots"},
        {"MAX_PIXELS": "²"},  # a digit to str.isdigit: int() failed with its own words
    ],
)
def test_given_a_size_limit_that_is_not_a_positive_whole_number_when_read_then_the_cold_start_names_it(
    environment,
):
    # a limit of 0 would refuse every upload as too large; int("1.5") would fail with Python's words
    [name] = environment
    with pytest.raises(ValueError, match=rf"^{name}=.*: a limit is a whole number of at least 1$"):
        Settings.from_env(environment)
    assert getattr(Settings.from_env({name: " 123 "}), name.lower()) == 123


def test_given_the_template_then_the_bulk_functions_may_write_bulk_labels_and_every_function_knows_where():
    template = yaml.load((REPO / "template.yaml").read_text(), Loader=_CloudFormationLoader)
    environment = template["Globals"]["Function"]["Environment"]["Variables"]

    assert template["Parameters"]["BulkLabelsPrefix"]["Default"] == Settings().bulk_labels_prefix
    assert environment["BULK_LABELS_PREFIX"] == {"Ref": "BulkLabelsPrefix"}
    assert Settings.from_env({"BATCH_PREFIX": "batch/"}).never_labelled("batch/reports/x.csv")
    assert Settings().never_labelled("batch/2019/cat.jpg") is None  # a user's own folder, outside the stack
    assert environment["BATCH_PREFIX"] == {"Ref": "BatchPrefix"}
    assert environment["EXISTING_BUCKET_NAME"] == {"Ref": "ExistingBucketName"}  # its batch/ is photos
    for name in ("BatchFunction", "QueueFunction"):
        (statement,) = [
            s
            for s in template["Resources"][name]["Properties"]["Policies"][0]["Statement"]
            if s["Sid"] == "WriteLabels"
        ]
        assert statement["Action"] == "s3:PutObject"
        assert {"Fn::Sub": "arn:${AWS::Partition}:s3:::${BucketName}/${BulkLabelsPrefix}*"} in statement[
            "Resource"
        ]
