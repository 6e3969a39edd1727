"""``catdog classify`` / ``catdog enqueue`` as a user runs them: a subprocess, real photos, the released
model, and S3/SQS served by moto over real HTTP (``AWS_ENDPOINT_URL``)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import boto3
import pytest
from conftest import PHOTOS

from catdog.settings import Settings


def catdog(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "catdog.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)


def rows(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def photo_folder(tmp_path, cat_photos, dog_photos):
    """Cats at the top, dogs in a nested folder, plus a non-image that a folder walk must skip."""
    folder = tmp_path / "photos"
    (folder / "nested" / "dogs").mkdir(parents=True)
    for photo in cat_photos[:4]:
        shutil.copy(photo, folder / f"cat-{photo.name}")
    for photo in dog_photos[:4]:
        shutil.copy(photo, folder / "nested" / "dogs" / f"dog-{photo.name}")
    (folder / "notes.txt").write_text("not a photo")
    return folder


def test_given_a_folder_of_photos_when_classified_then_one_jsonl_row_each_and_exit_0(
    photo_folder, tmp_path, serving_model
):
    output = tmp_path / "results.jsonl"

    result = catdog(
        "classify",
        str(photo_folder),
        "--model",
        str(serving_model),
        "-o",
        str(output),
        "-w",
        "2",
        "--executor",
        "process",
    )

    assert result.returncode == 0, result.stderr
    found = rows(output)
    assert len(found) == 8
    assert {Path(row["path"]).name for row in found} == {p.name for p in photo_folder.rglob("*.jpg")}
    assert all(set(row["probabilities"]) == {"cat", "dog", "neither"} for row in found)
    counts = Counter(row["label"] for row in found)
    assert "8 images" in result.stderr and "errors 0" in result.stderr
    assert all(f"{label} {n}" in result.stderr for label, n in counts.items())


def test_given_the_released_model_when_the_fixture_photos_are_classified_then_at_least_39_of_40_right(
    serving_model,
):
    result = catdog("classify", str(PHOTOS), "--model", str(serving_model))

    found = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(found) == 40
    assert sum(row["label"] == Path(row["path"]).parent.name for row in found) >= 39


def test_given_a_corrupt_file_and_a_missing_path_when_classified_to_csv_then_error_rows_and_exit_1(
    photo_folder, tmp_path, serving_model
):
    (photo_folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    output = tmp_path / "results.csv"

    result = catdog(
        "classify",
        str(photo_folder),
        str(tmp_path / "nowhere"),
        "--model",
        str(serving_model),
        "--workers",
        "2",
        "--output",
        str(output),
    )

    assert result.returncode == 1
    table = list(csv.DictReader(output.open()))
    assert len(table) == 10
    errors = {row["path"].rsplit("/", 1)[-1]: row["error_code"] for row in table if row["error_code"]}
    assert errors == {"broken.jpg": "invalid_image", "nowhere": "not_found"}
    good = [row for row in table if not row["error_code"]]
    assert len(good) == 8 and all(row["label"] in ("cat", "dog") for row in good)
    assert all(abs(float(row["p_cat"]) + float(row["p_dog"]) - 1) < 1e-3 for row in good)
    assert "errors 2" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["classify", "x.jpg", "--bogus"], "unrecognized arguments: --bogus"),
        (["classify", "x.jpg", "--output", "out.txt"], "--output must end in .jsonl or .csv"),
        (["classify", "x.jpg", "--model", "/no/such/model"], "cannot load the model"),
        (["classify", "x.jpg", "--write-labels"], "--write-labels needs at least one s3:// path"),
        (["classify", "s3://"], "no bucket in s3://"),
        (["classify", "x.jpg"], "no model: pass --model DIR"),
        (["enqueue", "s3://bucket/uploads/"], "--queue-url"),
        (["classify", "s3://my bucket/x", "--model", "models/catdog"], "'my bucket' is not a bucket name"),
        (["enqueue", "s3://my bucket/x", "--queue-url", "http://q"], "'my bucket' is not a bucket name"),
        (["serve", "--port", "99999"], "a port is 0-65535, not '99999'"),
        (["serve", "--bucket", "My Bucket"], "'My Bucket' is not a bucket name"),
        (["serve", "--model", "/no/such/model"], "no model.tflite + model.json in /no/such/model"),
        (["serve", "--samples", "/no/such/folder"], "no sample folder /no/such/folder"),
        (
            ["serve", "--function-log", "/no/such/folder/f.log"],
            "no folder /no/such/folder for --function-log",
        ),
        (["serve", "--host", "192.0.2.1", "--port", "0"], "cannot listen on 192.0.2.1: "),
    ],
)
def test_given_bad_usage_when_run_then_exit_2_with_one_line_and_no_traceback(args, message):
    env = {k: v for k, v in os.environ.items() if k not in ("QUEUE_URL", "MODEL_PATH")}

    result = catdog(*args, env=env)

    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if not line.startswith("INFO:")]
    assert len(lines) == 1 and message in lines[0], result.stderr


@pytest.fixture
def aws(moto_endpoint, monkeypatch):
    """Clients in this process and the environment for the CLI subprocess, both on the moto server."""
    settings = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return dict(os.environ)


@pytest.fixture
def bucket(aws, cat_photos, dog_photos):
    """A fresh bucket: 3 cats and 3 dogs under uploads/ (keys with a space and unicode, an upper-case
    suffix), a corrupt image, a text object, and an image-named object under labels/ (never listed)."""
    name = f"catdog-cli-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=name)
    for i, photo in enumerate(cat_photos[:3]):
        s3.put_object(Bucket=name, Key=f"uploads/cat-{i} é.jpg", Body=photo.read_bytes())
    for i, photo in enumerate(dog_photos[:3]):
        s3.put_object(Bucket=name, Key=f"uploads/deep/dog-{i}.JPG", Body=photo.read_bytes())
    s3.put_object(Bucket=name, Key="uploads/broken.png", Body=b"\x89PNG\r\n\x1a\n broken")
    s3.put_object(Bucket=name, Key="uploads/readme.txt", Body=b"skipped: not an image suffix")
    s3.put_object(Bucket=name, Key="labels/old.jpg", Body=b"under labels/: never listed")
    return name


def label_objects(bucket: str) -> dict[str, dict]:
    s3 = boto3.client("s3")
    listing = s3.list_objects_v2(Bucket=bucket, Prefix="labels/").get("Contents", [])
    keys = [o["Key"] for o in listing if o["Key"].endswith(".json")]
    return {key: json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) for key in keys}


def test_given_an_s3_prefix_when_classified_with_write_labels_then_the_lambda_label_json_is_written(
    aws, bucket, tmp_path, serving_model
):
    output = tmp_path / "s3.jsonl"

    result = catdog(
        "classify",
        f"s3://{bucket}/uploads/",
        "--write-labels",
        "--model",
        str(serving_model),
        "--workers",
        "2",
        "-o",
        str(output),
        env=aws,
    )

    assert result.returncode == 1, result.stderr  # the corrupt objects failed, the photos did not
    by_path = {row["path"]: row for row in rows(output)}
    assert len(by_path) == 7
    labels = label_objects(bucket)
    settings = Settings()
    for path, row in by_path.items():
        key = path.removeprefix(f"s3://{bucket}/")
        record = labels[settings.label_key(key)]
        assert record["key"] == key
        if "error" in row:
            assert record["error"] == row["error"]
        else:
            assert row["label"] == record["label"]
            assert set(record) >= {"bucket", "confidence", "probabilities", "model", "source", "timing_ms"}
    assert by_path[f"s3://{bucket}/uploads/broken.png"]["error"]["code"] == "invalid_image"
    assert len(labels) == 7


def test_given_an_s3_prefix_without_write_labels_when_classified_then_nothing_is_written(
    aws, bucket, serving_model
):
    result = catdog("classify", f"s3://{bucket}/uploads/deep/", "--model", str(serving_model), env=aws)

    assert result.returncode == 0, result.stderr
    found = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["path"].rsplit("/", 1)[1] for row in found] == ["dog-0.JPG", "dog-1.JPG", "dog-2.JPG"]
    assert all(row["label"] in ("cat", "dog") for row in found)
    assert label_objects(bucket) == {}


def test_given_objects_above_max_image_bytes_when_classified_without_write_labels_then_too_large_rows(
    aws, bucket, serving_model
):
    limit = 1000  # every fixture photo is larger
    env = {**aws, "MAX_IMAGE_BYTES": str(limit)}

    result = catdog("classify", f"s3://{bucket}/uploads/deep/", "--model", str(serving_model), env=env)

    assert result.returncode == 1
    found = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(found) == 3
    assert {row["error"]["code"] for row in found} == {"too_large"}
    assert all(f"above the limit of {limit:,}" in row["error"]["message"] for row in found)


def test_given_an_empty_object_when_classified_with_or_without_write_labels_then_the_code_is_empty(
    aws, bucket, serving_model
):
    boto3.client("s3").put_object(Bucket=bucket, Key="uploads/blank/empty.jpg", Body=b"")
    runs = [
        catdog("classify", f"s3://{bucket}/uploads/blank/", "--model", str(serving_model), *extra, env=aws)
        for extra in ((), ("--write-labels",))
    ]

    for result in runs:
        (row,) = [json.loads(line) for line in result.stdout.splitlines()]
        assert result.returncode == 1 and row["error"]["code"] == "empty", result.stderr
    assert label_objects(bucket)["labels/blank/empty.jpg.json"]["error"]["code"] == "empty"


def test_given_a_missing_bucket_when_classified_then_one_error_row_and_exit_1(aws, serving_model):
    result = catdog("classify", "s3://no-such-bucket-here/x/", "--model", str(serving_model), env=aws)

    assert result.returncode == 1
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["error"]["code"] == "NoSuchBucket"


def test_given_a_prefix_when_enqueued_then_one_message_per_image_and_exit_0(aws, bucket):
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=f"{bucket}-work")["QueueUrl"]

    result = catdog("enqueue", f"s3://{bucket}/", "--queue-url", url, env=aws)

    assert result.returncode == 0, result.stderr
    keys = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        keys += [json.loads(m["Body"])["key"] for m in messages]
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    expected = [f"uploads/cat-{i} é.jpg" for i in range(3)] + [f"uploads/deep/dog-{i}.JPG" for i in range(3)]
    assert sorted(keys) == sorted([*expected, "uploads/broken.png"])
    assert "7 messages sent, 0 failed" in result.stderr
