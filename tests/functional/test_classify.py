"""The S3-triggered classify function over a real (moto) bucket, real photos and a real TFLite model.

Every test invokes the handler with one of the sample events in ``events/`` - the same files that
``sam local invoke`` takes - rewritten only to point at the test bucket and the object's real ETag.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from lambda_harness import LambdaContext, aws_environment, load_handler, read_json
from moto import mock_aws
from PIL import Image
from sample_events import event_key, sample_event

BUCKET = "catdog-classify-test"
LABEL_FIELDS = {
    "bucket",
    "key",
    "label",
    "confidence",
    "probabilities",
    "model",
    "source",
    "timing_ms",
    "classified_at",
}
ERROR_FIELDS = {"bucket", "key", "error", "model", "classified_at"}
PUT_KEY = "uploads/pets/whiskers.jpg"  # the key in events/s3-put.json


@pytest.fixture
def start(monkeypatch, serving_model):
    """Start the function (cold start) with extra environment variables, inside a mocked AWS."""
    aws_environment(monkeypatch, serving_model)
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)

        def cold_start(**environment):
            for name, value in environment.items():
                monkeypatch.setenv(name, str(value))
            return load_handler("classify")

        yield cold_start


@pytest.fixture
def app(start):
    return start()


def upload(key: str, body: bytes) -> str:
    """Put ``body`` at ``key``; returns its ETag, as S3 would put it in the event."""
    return boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)["ETag"].strip('"')


def all_keys() -> list[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=BUCKET)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def png_bytes(photo: Path) -> bytes:
    buffer = io.BytesIO()
    Image.open(photo).save(buffer, format="PNG")
    return buffer.getvalue()


def classify(app, event: dict) -> dict:
    return app.lambda_handler(event, LambdaContext())


def test_given_a_jpeg_upload_when_the_put_event_arrives_then_a_complete_label_is_written(app, cat_photos):
    etag = upload(PUT_KEY, cat_photos[0].read_bytes())

    result = classify(app, sample_event("s3-put.json", BUCKET, etag=etag))

    label = read_json(BUCKET, "labels/pets/whiskers.jpg.json")
    assert result == {"written": 1, "skipped": 0, "ignored": 0}
    assert set(label) == LABEL_FIELDS
    assert label["bucket"] == BUCKET and label["key"] == "uploads/pets/whiskers.jpg"
    assert label["label"] == "cat"
    assert set(label["probabilities"]) == {"cat", "dog", "neither"}
    assert label["confidence"] == label["probabilities"]["cat"] == max(label["probabilities"].values())
    assert sum(label["probabilities"].values()) == pytest.approx(1, abs=1e-3)
    assert set(label["model"]) == {"name", "version", "sha256"}
    assert label["source"] == {"etag": etag, "version_id": None, "size": cat_photos[0].stat().st_size}
    assert set(label["timing_ms"]) == {"download", "decode", "inference"}
    assert label["classified_at"].endswith("Z")


def test_given_the_label_object_when_read_then_it_is_served_as_json(app, dog_photos):
    event = sample_event("s3-put.json", BUCKET)
    upload(event_key(event), dog_photos[0].read_bytes())

    classify(app, event)

    head = boto3.client("s3").head_object(Bucket=BUCKET, Key="labels/pets/whiskers.jpg.json")
    assert head["ContentType"] == "application/json"


def test_given_a_key_with_spaces_plus_and_unicode_when_classified_then_the_label_mirrors_the_real_key(
    app, dog_photos
):
    event = sample_event("s3-put-special-key.json", BUCKET)
    key = event_key(event)
    assert key == "uploads/my pets/Rex + Minou été 🐶.jpg"  # the sample is encoded as S3 sends it
    upload(key, dog_photos[0].read_bytes())

    classify(app, event)

    label = read_json(BUCKET, "labels/my pets/Rex + Minou été 🐶.jpg.json")
    assert label["key"] == key
    assert "error" not in label


def test_given_a_key_at_s3s_length_limit_when_classified_then_its_label_has_a_hashed_key_and_the_full_key(
    app, cat_photos
):
    key = "uploads/" + "é" * 506 + ".jpg"  # 1,024 UTF-8 bytes: the longest key S3 takes
    upload(key, cat_photos[0].read_bytes())

    assert classify(app, sample_event("s3-put.json", BUCKET, key=key))["written"] == 1

    label_key = f"labels/_long/{hashlib.sha256(key.encode()).hexdigest()}.json"
    assert all_keys() == sorted([key, label_key])
    assert all(len(stored.encode()) <= 1024 for stored in all_keys())  # what S3 would have refused
    assert read_json(BUCKET, label_key)["key"] == key


def test_given_a_png_upload_when_classified_then_it_gets_the_same_label_as_its_jpeg(app, cat_photos):
    photo = cat_photos[1]
    upload("uploads/a.jpg", photo.read_bytes())
    upload("uploads/a.png", png_bytes(photo))

    classify(app, sample_event("s3-put.json", BUCKET, key="uploads/a.jpg"))
    classify(app, sample_event("s3-put.json", BUCKET, key="uploads/a.png"))

    jpeg, png = read_json(BUCKET, "labels/a.jpg.json"), read_json(BUCKET, "labels/a.png.json")
    assert png["label"] == jpeg["label"]
    assert png["probabilities"]["cat"] == pytest.approx(jpeg["probabilities"]["cat"], abs=0.05)


@pytest.mark.parametrize("name", ["Whiskers.Jpg", "WHISKERS.JPEG", "whiskers.TIFF"])
def test_given_an_upload_whose_suffix_is_not_lower_case_when_its_event_arrives_then_it_is_labelled(
    app, cat_photos, name
):
    photo = Image.open(cat_photos[0])
    body = io.BytesIO()
    photo.save(body, "TIFF" if name.lower().endswith(".tiff") else "JPEG")
    etag = upload(f"uploads/{name}", body.getvalue())

    classify(app, sample_event("eventbridge-object-created.json", BUCKET, key=f"uploads/{name}", etag=etag))

    assert read_json(BUCKET, f"labels/{name}.json")["label"] == "cat"


def test_given_an_eventbridge_object_created_event_when_handled_then_the_object_is_labelled(app, cat_photos):
    event = sample_event("eventbridge-object-created.json", BUCKET)
    upload(event["detail"]["object"]["key"], cat_photos[2].read_bytes())

    assert classify(app, event)["written"] == 1
    assert "label" in read_json(BUCKET, "labels/pets/whiskers.jpg.json")


def test_given_the_released_model_when_clear_photos_are_uploaded_then_almost_all_labels_are_right(
    app, cat_photos, dog_photos
):
    photos = [("cat", p) for p in cat_photos] + [("dog", p) for p in dog_photos]
    for truth, photo in photos:
        key = f"uploads/{truth}s/{photo.name}"
        upload(key, photo.read_bytes())
        classify(app, sample_event("s3-put.json", BUCKET, key=key))

    right = [
        read_json(BUCKET, f"labels/{truth}s/{photo.name}.json")["label"] == truth for truth, photo in photos
    ]
    assert sum(right) / len(right) >= 0.9


def test_given_a_duplicate_event_for_the_same_etag_when_handled_then_the_label_is_not_rewritten(
    app, cat_photos, capsys
):
    event = sample_event("s3-put.json", BUCKET, etag=upload(PUT_KEY, cat_photos[0].read_bytes()))
    classify(app, event)
    first = boto3.client("s3").get_object(Bucket=BUCKET, Key="labels/pets/whiskers.jpg.json")
    capsys.readouterr()

    result = classify(app, event)

    again = boto3.client("s3").get_object(Bucket=BUCKET, Key="labels/pets/whiskers.jpg.json")
    assert result == {"written": 0, "skipped": 1, "ignored": 0}
    assert again["ETag"] == first["ETag"]
    assert again["LastModified"] == first["LastModified"]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    metrics = [line for line in lines if "_aws" in line]  # counted as a duplicate, not as a new answer
    assert [m.get("DuplicatesSkipped") for m in metrics if "DuplicatesSkipped" in m] == [[1.0]]
    assert not any("ImagesClassified" in m or "InferenceMs" in m for m in metrics)


def test_given_the_photo_is_replaced_when_its_new_event_arrives_then_the_label_is_redone(
    app, cat_photos, dog_photos
):
    classify(app, sample_event("s3-put.json", BUCKET, etag=upload(PUT_KEY, cat_photos[0].read_bytes())))

    new_etag = upload(PUT_KEY, dog_photos[0].read_bytes())
    classify(app, sample_event("s3-put.json", BUCKET, etag=new_etag))

    assert read_json(BUCKET, "labels/pets/whiskers.jpg.json")["source"]["etag"] == new_etag


@pytest.mark.parametrize(
    ("sample", "key"),
    [
        ("s3-put-label.json", None),
        ("s3-put.json", "elsewhere/cat.jpg"),
        ("s3-put.json", "uploads/2024 trip/"),  # a folder marker, as the S3 console creates one
        ("s3-put.json", "uploads/"),
        ("eventbridge-object-created.json", "uploads/2024 trip/"),
    ],
)
def test_given_an_event_outside_uploads_when_handled_then_nothing_is_written(app, sample, key):
    event = sample_event(sample, BUCKET, key=key)
    upload(event_key(event), b"{}" if key is None or not key.endswith("/") else b"")

    result = classify(app, event)

    assert result == {"written": 0, "skipped": 0, "ignored": 1}
    assert all_keys() == [event_key(event)]


def test_given_an_object_removed_event_when_handled_then_it_is_ignored(app):
    event = sample_event("s3-put.json", BUCKET)
    event["Records"][0]["eventName"] = "ObjectRemoved:Delete"

    assert classify(app, event)["ignored"] == 1
    assert all_keys() == []


def test_given_a_text_file_when_classified_then_an_invalid_image_error_is_recorded(app):
    event = sample_event("s3-put-not-image.json", BUCKET)
    upload(event_key(event), b"shopping list: cat food, dog food\n")

    classify(app, event)

    label = read_json(BUCKET, "labels/docs/notes.txt.json")
    assert set(label) == ERROR_FIELDS | {"source"}
    assert label["error"]["code"] == "invalid_image"
    assert label["error"]["message"]


@pytest.mark.parametrize(
    ("environment", "body", "code"),
    [
        ({}, b"", "empty"),
        ({}, b"\xff\xd8\xff\xe0 a truncated JPEG header", "invalid_image"),
        ({"MAX_IMAGE_BYTES": 1000}, None, "too_large"),
        ({"MAX_PIXELS": 10_000}, None, "too_many_pixels"),
    ],
)
def test_given_bad_input_when_classified_then_its_error_is_recorded_and_nothing_raises(
    start, cat_photos, environment, body, code
):
    app = start(**environment)
    event = sample_event("s3-put.json", BUCKET)
    upload(event_key(event), cat_photos[0].read_bytes() if body is None else body)

    classify(app, event)

    label = read_json(BUCKET, "labels/pets/whiskers.jpg.json")
    assert set(label) == ERROR_FIELDS | {"source"}
    assert label["error"]["code"] == code


@pytest.mark.parametrize(
    ("over", "outcome"), [(0, "cat"), (1, "too_large")], ids=["exactly the limit", "a byte over the limit"]
)
def test_given_a_photo_at_max_image_bytes_when_classified_then_it_is_read_and_a_byte_more_is_too_large(
    start, cat_photos, over, outcome
):
    # GIVEN MAX_IMAGE_BYTES set to a real photo's size, or to one byte less
    photo = cat_photos[0].read_bytes()
    app = start(MAX_IMAGE_BYTES=len(photo) - over)
    event = sample_event("s3-put.json", BUCKET, etag=upload(PUT_KEY, photo))

    # WHEN the photo's event is handled
    classify(app, event)

    # THEN a photo of the limit's size is classified; one byte above it is refused unread
    label = read_json(BUCKET, "labels/pets/whiskers.jpg.json")
    assert (label["error"]["code"] if "error" in label else label["label"]) == outcome
    assert label["source"]["size"] == len(photo)


def test_given_the_object_was_deleted_before_the_event_when_handled_then_not_found_is_recorded(
    app, cat_photos
):
    event = sample_event("s3-put.json", BUCKET)
    upload(event_key(event), cat_photos[0].read_bytes())
    boto3.client("s3").delete_object(Bucket=BUCKET, Key=event_key(event))

    classify(app, event)

    label = read_json(BUCKET, "labels/pets/whiskers.jpg.json")
    assert set(label) == ERROR_FIELDS
    assert label["error"]["code"] == "not_found"


def test_given_an_archived_photo_when_handled_then_archived_is_recorded_and_once_restored_it_is_classified(
    app, cat_photos
):
    event = sample_event("s3-put.json", BUCKET)
    s3 = boto3.client("s3")
    s3.put_object(
        Bucket=BUCKET, Key=event_key(event), Body=cat_photos[0].read_bytes(), StorageClass="GLACIER"
    )

    classify(app, event)

    label = read_json(BUCKET, "labels/pets/whiskers.jpg.json")
    assert set(label) == ERROR_FIELDS and label["error"]["code"] == "archived"
    assert "GLACIER" in label["error"]["message"]
    s3.restore_object(Bucket=BUCKET, Key=event_key(event), RestoreRequest={"Days": 1})
    classify(app, event)  # the same event again: an error label is never the current answer
    assert read_json(BUCKET, "labels/pets/whiskers.jpg.json")["label"] == "cat"


def refuse_get(app, monkeypatch, key: str, message: str) -> None:
    """``app``'s S3 client answers a GetObject of ``key`` with a 400 ``InvalidRequest`` saying ``message``:
    what S3 answers for an object written with a customer key (SSE-C), which moto does not enforce, and
    for requests it refuses for other reasons."""
    get_object = app.labeler.s3.get_object

    def refused(**kwargs):
        if kwargs["Key"] != key:
            return get_object(**kwargs)
        error = {
            "Error": {"Code": "InvalidRequest", "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        raise ClientError(error, "GetObject")

    monkeypatch.setattr(app.labeler.s3, "get_object", refused)


def test_given_a_photo_encrypted_with_a_customer_key_when_handled_then_encrypted_is_recorded_not_retried(
    app, cat_photos, monkeypatch
):
    # GIVEN an upload its writer encrypted with a key of its own (SSE-C), which S3 refuses to read without
    # it as below (moto does not enforce SSE-C)
    event = sample_event("s3-put.json", BUCKET)
    upload(event_key(event), cat_photos[0].read_bytes())
    message = (
        "The object was stored using a form of Server Side Encryption. The correct parameters must be "
        "provided to retrieve the object."
    )
    refuse_get(app, monkeypatch, event_key(event), message)

    # WHEN it is handled
    classify(app, event)

    # THEN an error label says so (it raised: two Lambda retries, then the failure queue, and no label)
    label = read_json(BUCKET, "labels/pets/whiskers.jpg.json")
    assert set(label) == ERROR_FIELDS and label["error"]["code"] == "encrypted"


def test_given_s3_refuses_a_photo_as_an_invalid_request_of_another_kind_when_handled_then_it_is_not_encrypted(
    app, cat_photos, monkeypatch
):
    # GIVEN S3 refusing the upload's GET with a 400 InvalidRequest, the code it answers for an object
    # written with a customer key (SSE-C), but for another reason: a request signed in a way it does not take
    event = sample_event("s3-put.json", BUCKET)
    upload(event_key(event), cat_photos[0].read_bytes())
    message = "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
    refuse_get(app, monkeypatch, event_key(event), message)

    # WHEN it is handled
    # THEN S3's refusal propagates (Lambda's retries, then the failure queue): nothing says the photo is
    # encrypted, and no label is written for it
    with pytest.raises(ClientError, match="AWS4-HMAC-SHA256"):
        classify(app, event)
    assert all_keys() == [event_key(event)]


def test_given_s3_throttles_when_handled_then_the_error_propagates_for_a_lambda_retry(
    app, cat_photos, monkeypatch, caplog
):
    event = sample_event("s3-put.json", BUCKET)
    upload(event_key(event), cat_photos[0].read_bytes())

    def slow_down(**kwargs):
        raise ClientError(
            {"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "GetObject"
        )

    monkeypatch.setattr(app.labeler.s3, "get_object", slow_down)

    with pytest.raises(ClientError, match="SlowDown"):
        classify(app, event)
    assert all_keys() == [event_key(event)]
    # one line with where and why, no traceback for an S3 answer
    (said,) = [r for r in caplog.records if r.levelname == "ERROR" and r.name == "catdog"]
    assert (said.message, said.bucket, said.key) == (
        "S3 failed; Lambda retries the event",
        BUCKET,
        event_key(event),
    )
    assert "SlowDown" in said.reason and said.exc_info is None


def test_given_a_bug_while_labelling_when_handled_then_it_is_told_as_one_with_its_traceback(
    app, cat_photos, monkeypatch, caplog
):
    event = sample_event("s3-put.json", BUCKET)
    upload(event_key(event), cat_photos[0].read_bytes())

    def broken(pixels):
        raise KeyError("probabilities")  # a bug in the code that classifies

    monkeypatch.setattr(app.labeler.classifier, "classify_pixels", broken)

    with pytest.raises(KeyError):
        classify(app, event)
    # it said "S3 failed" for every failure, bugs too
    (said,) = [r for r in caplog.records if r.levelname == "ERROR" and r.name == "catdog"]
    assert said.message == "labelling failed; Lambda retries the event" and said.exc_info is not None


def test_given_a_classified_photo_and_a_bad_one_when_handled_then_metrics_count_label_and_error_code(
    app, cat_photos, capsys, caplog
):
    upload("uploads/good.jpg", cat_photos[0].read_bytes())
    upload("uploads/bad.jpg", b"not a photo")
    capsys.readouterr()

    classify(app, sample_event("s3-put.json", BUCKET, key="uploads/good.jpg"))
    classify(app, sample_event("s3-put.json", BUCKET, key="uploads/bad.jpg"))

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    metrics = [line for line in lines if "_aws" in line]
    label = read_json(BUCKET, "labels/good.jpg.json")["label"]
    assert any(m.get("ImagesClassified") == [1.0] and m.get("label") == label for m in metrics)
    assert any(m.get("ImageErrors") == [1.0] and m.get("code") == "invalid_image" for m in metrics)
    assert any(len(m.get("InferenceMs", [])) == 1 for m in metrics)
    (logged,) = [r for r in caplog.records if r.getMessage() == "classified"]
    assert (logged.key, logged.label) == ("uploads/good.jpg", label)


def test_given_s3s_test_event_when_handled_then_nothing_is_done_and_nothing_raises(app):
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}

    assert classify(app, test_event) == {"written": 0, "skipped": 0, "ignored": 0}
    assert all_keys() == []


def test_given_other_prefixes_configured_when_a_photo_arrives_then_they_decide_what_is_read_and_written(
    start, dog_photos
):
    app = start(UPLOADS_PREFIX="incoming/", LABELS_PREFIX="results/")
    upload("incoming/rex.jpg", dog_photos[1].read_bytes())
    upload("uploads/rex.jpg", dog_photos[1].read_bytes())

    classify(app, sample_event("s3-put.json", BUCKET, key="incoming/rex.jpg"))
    ignored = classify(app, sample_event("s3-put.json", BUCKET, key="uploads/rex.jpg"))

    assert ignored["ignored"] == 1
    assert all_keys() == ["incoming/rex.jpg", "results/rex.jpg.json", "uploads/rex.jpg"]


def test_given_a_black_frame_uploaded_when_classified_then_its_label_is_neither(app):
    # GIVEN an upload of one flat colour (a photo taken with the lens cap on), which the network calls "cat"
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480)).save(buffer, format="JPEG")
    event = sample_event("s3-put.json", BUCKET, etag=upload(PUT_KEY, buffer.getvalue()))

    # WHEN the put event arrives
    result = classify(app, event)

    # THEN a label is written, and it says there is neither animal in it
    label = read_json(BUCKET, "labels/pets/whiskers.jpg.json")
    assert result == {"written": 1, "skipped": 0, "ignored": 0}
    assert (label["label"], label["confidence"]) == ("neither", 1.0)
    assert label["probabilities"]["cat"] > label["probabilities"]["neither"]  # the network's, kept as given
