"""The classify function against moto in server mode: every S3 call is real HTTP on 127.0.0.1.

``mock_aws`` patches botocore in-process; here the handler's module-scope client is configured only
through ``AWS_ENDPOINT_URL_S3``, as it would be against any S3-compatible endpoint, and the label is
fetched back through a presigned URL with a plain HTTP GET.
"""

from __future__ import annotations

import json
import urllib.request

import boto3
import pytest
from lambda_harness import LambdaContext, aws_environment, load_handler
from sample_events import event_key, sample_event

BUCKET = "catdog-e2e"


@pytest.fixture
def s3(moto_endpoint, monkeypatch, serving_model):
    aws_environment(monkeypatch, serving_model)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).close()
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def http_get_json(s3, key: str) -> dict:
    """Fetch a label as a browser would: a presigned URL and a plain HTTP GET."""
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key})
    with urllib.request.urlopen(url) as response:
        return json.load(response)


def test_given_a_photo_under_a_special_key_when_the_handler_runs_over_http_then_its_label_is_served(
    moto_endpoint, s3, cat_photos
):
    event = sample_event("s3-put-special-key.json", BUCKET)
    key = event_key(event)
    etag = s3.put_object(Bucket=BUCKET, Key=key, Body=cat_photos[3].read_bytes())["ETag"].strip('"')
    app = load_handler("classify")
    assert app.labeler.s3.meta.endpoint_url == moto_endpoint

    result = app.lambda_handler(sample_event("s3-put-special-key.json", BUCKET, etag=etag), LambdaContext())

    label = http_get_json(s3, "labels/my pets/Rex + Minou été 🐶.jpg.json")
    assert result["written"] == 1
    assert label["key"] == key and label["source"]["etag"] == etag
    assert label["label"] in {"cat", "dog"}


def test_given_a_batch_of_uploads_over_http_when_each_event_arrives_twice_then_each_label_is_written_once(
    s3, cat_photos, dog_photos
):
    bodies = {
        "uploads/cat.jpg": cat_photos[4].read_bytes(),
        "uploads/dog.jpg": dog_photos[4].read_bytes(),
        "uploads/broken.jpg": b"\xff\xd8\xff not really a JPEG",
    }
    events = [
        sample_event(
            "s3-put.json", BUCKET, key=key, etag=s3.put_object(Bucket=BUCKET, Key=key, Body=body)["ETag"]
        )
        for key, body in bodies.items()
    ]
    app = load_handler("classify")

    first = [app.lambda_handler(event, LambdaContext()) for event in events]
    second = [app.lambda_handler(event, LambdaContext()) for event in events]

    assert [r["written"] for r in first] == [1, 1, 1]
    assert [r["skipped"] for r in second] == [1, 1, 1]
    assert "label" in http_get_json(s3, "labels/cat.jpg.json")
    assert "label" in http_get_json(s3, "labels/dog.jpg.json")
    assert http_get_json(s3, "labels/broken.jpg.json")["error"]["code"] == "invalid_image"
