"""S3 Batch Operations handler over a real bucket (moto), real photos and the released model."""

from __future__ import annotations

import io
import json
import re
from urllib.parse import quote_plus

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError, ReadTimeoutError
from conftest import REPO, load_event
from lambda_harness import LambdaContext, handler_on_bucket, read_json

BUCKET = "catdog-photos"  # the bucket named in events/batch-job*.json


@pytest.fixture
def batch(monkeypatch, serving_model):
    with handler_on_bucket("batch", monkeypatch, serving_model, BUCKET) as app:
        yield app


@pytest.fixture
def batch_with_archive(monkeypatch, serving_model):
    """The batch function of a stack deployed with ``ExistingBucketName=photo-archive``."""
    with handler_on_bucket("batch", monkeypatch, serving_model, BUCKET, "photo-archive") as app:
        yield app


def task_event(key: str, version: str = "2.0", task_id: str = "task-1", bucket: str = BUCKET) -> dict:
    """One invocation as Batch Operations sends it: one task, the key URL-encoded as in the manifest."""
    task = {"taskId": task_id, "s3Key": quote_plus(key), "s3VersionId": None}
    if version == "1.0":
        task["s3BucketArn"] = f"arn:aws:s3:::{bucket}"
    else:
        task["s3Bucket"] = bucket
    event = {
        "invocationSchemaVersion": version,
        "invocationId": f"invocation-{task_id}",
        "job": {"id": "job-1"},
        "tasks": [task],
    }
    if version == "2.0":
        event["job"]["userArguments"] = {}
    return event


def run(batch, key: str, **kwargs) -> dict:
    response = batch.lambda_handler(task_event(key, **kwargs), LambdaContext())
    (result,) = response["results"]
    return {**response, **result}


def test_given_a_job_over_photos_a_corrupt_and_a_missing_object_when_run_then_codes_and_labels_are_right(
    batch, cat_photos, dog_photos
):
    s3 = boto3.client("s3")
    photos = {f"uploads/cats/{p.name}": ("cat", p) for p in cat_photos[:3]}
    photos |= {f"uploads/dogs/{p.stem} + copy é.jpg": ("dog", p) for p in dog_photos[:3]}
    for key, (_, path) in photos.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
    s3.put_object(Bucket=BUCKET, Key="uploads/corrupt.jpg", Body=b"\xff\xd8\xff\xe0 not really a jpeg")
    manifest = [*photos, "uploads/corrupt.jpg", "uploads/missing.jpg"]

    results = {key: run(batch, key, task_id=f"t{i}") for i, key in enumerate(manifest)}

    for i, key in enumerate(manifest):
        assert results[key]["taskId"] == f"t{i}"
        assert results[key]["invocationId"] == f"invocation-t{i}"
        assert results[key]["invocationSchemaVersion"] == "2.0"
        assert results[key]["treatMissingKeysAs"] == "PermanentFailure"
    for key in photos:
        assert results[key]["resultCode"] == "Succeeded"
        label = read_json(BUCKET, f"labels/{key.removeprefix('uploads/')}.json")
        assert label["key"] == key
        assert label["label"] in ("cat", "dog")
        assert json.loads(results[key]["resultString"])["label"] == label["label"]
        assert set(label) >= {"probabilities", "model", "source", "timing_ms", "classified_at"}
    assert results["uploads/corrupt.jpg"]["resultCode"] == "Succeeded"
    assert read_json(BUCKET, "labels/corrupt.jpg.json")["error"]["code"] == "invalid_image"
    assert json.loads(results["uploads/corrupt.jpg"]["resultString"])["error"] == "invalid_image"
    assert results["uploads/missing.jpg"]["resultCode"] == "PermanentFailure"
    assert read_json(BUCKET, "labels/missing.jpg.json")["error"]["code"] == "not_found"


def test_given_a_labelled_photo_deleted_before_its_task_when_run_then_permanent_failure_and_the_label_kept(
    batch, cat_photos
):
    # GIVEN a photo labelled once, then deleted (after the manifest was made)
    s3 = boto3.client("s3")
    s3.put_object(Bucket=BUCKET, Key="uploads/cat.jpg", Body=cat_photos[0].read_bytes())
    assert run(batch, "uploads/cat.jpg")["resultCode"] == "Succeeded"
    label = read_json(BUCKET, "labels/cat.jpg.json")
    s3.delete_object(Bucket=BUCKET, Key="uploads/cat.jpg")

    # WHEN a job's task names it
    result = run(batch, "uploads/cat.jpg")

    # THEN the job lists it as gone, as it does a missing photo never labelled (it said Succeeded, so a
    # failed-tasks-only report left it out), and its label is kept
    assert result["resultCode"] == "PermanentFailure"
    assert json.loads(result["resultString"])["error"] == "not_found"
    assert read_json(BUCKET, "labels/cat.jpg.json") == label


@pytest.mark.parametrize("sample", ["batch-job.json", "batch-job-v1.json"])
def test_given_the_sample_events_of_both_schemas_when_run_then_the_decoded_key_is_labelled(
    batch, cat_photos, sample
):
    key = "archive/2019/garden cat é.jpg"  # URL-encoded in the samples, as in a manifest
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=cat_photos[1].read_bytes())
    event = load_event(sample)

    response = batch.lambda_handler(event, LambdaContext())

    assert response["invocationSchemaVersion"] == event["invocationSchemaVersion"]
    assert response["invocationId"] == event["invocationId"]
    assert response["results"] == [
        {
            "taskId": event["tasks"][0]["taskId"],
            "resultCode": "Succeeded",
            "resultString": json.dumps(
                {
                    "label": read_json(BUCKET, f"bulk-labels/{key}.json")["label"],
                    "confidence": read_json(BUCKET, f"bulk-labels/{key}.json")["confidence"],
                    "written": True,
                    "model": read_json(BUCKET, f"bulk-labels/{key}.json")["model"]["version"],
                    "labels_key": f"bulk-labels/{key}.json",
                },
                ensure_ascii=False,
            ),
        }
    ]


def test_given_an_upload_and_a_bulk_object_of_the_same_path_when_a_job_labels_both_then_each_keeps_its_label(
    batch, cat_photos, dog_photos
):
    s3 = boto3.client("s3")
    s3.put_object(Bucket=BUCKET, Key="uploads/archive/a.jpg", Body=dog_photos[0].read_bytes())
    s3.put_object(Bucket=BUCKET, Key="archive/a.jpg", Body=cat_photos[0].read_bytes())

    results = [run(batch, key) for key in ("uploads/archive/a.jpg", "archive/a.jpg")]

    assert [json.loads(r["resultString"])["labels_key"] for r in results] == [
        "labels/archive/a.jpg.json",
        "bulk-labels/archive/a.jpg.json",
    ]
    upload, bulk = (
        read_json(BUCKET, "labels/archive/a.jpg.json"),
        read_json(BUCKET, "bulk-labels/archive/a.jpg.json"),
    )
    assert (upload["key"], upload["label"]) == ("uploads/archive/a.jpg", "dog")
    assert (bulk["key"], bulk["label"]) == ("archive/a.jpg", "cat")


def test_given_the_released_model_when_a_job_labels_photos_then_every_label_is_right(
    batch, cat_photos, dog_photos
):
    s3 = boto3.client("s3")
    photos = {f"archive/{p.parent.name}/{p.name}": p for p in [*cat_photos[:5], *dog_photos[:5]]}
    for key, path in photos.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())

    found = {key: json.loads(run(batch, key)["resultString"])["label"] for key in photos}

    assert found == {key: path.parent.name for key, path in photos.items()}


def failures_counted(capsys) -> list[str]:
    """The reasons of the ``TasksFailed`` metrics written since the last read of stdout."""
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [line["reason"] for line in lines if "TasksFailed" in line]


def test_given_s3_throttles_when_run_then_the_task_is_a_temporary_failure(
    batch, cat_photos, monkeypatch, capsys
):
    boto3.client("s3").put_object(Bucket=BUCKET, Key="uploads/cat.jpg", Body=cat_photos[0].read_bytes())

    def slow_down(**kwargs):
        raise ClientError(
            {
                "Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."},
                "ResponseMetadata": {"HTTPStatusCode": 503},
            },
            "GetObject",
        )

    monkeypatch.setattr(batch.labeler.s3, "get_object", slow_down)
    result = run(batch, "uploads/cat.jpg")

    assert result["resultCode"] == "TemporaryFailure"
    assert "SlowDown" in result["resultString"]
    # counted: the function does not raise, so Lambda's Errors (BatchErrorsAlarm) never sees it
    assert failures_counted(capsys) == ["SlowDown"]


def test_given_access_is_denied_when_run_then_the_task_is_a_permanent_failure(batch, monkeypatch, capsys):
    def denied(**kwargs):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")

    monkeypatch.setattr(batch.labeler.s3, "get_object", denied)

    assert run(batch, "uploads/secret.jpg")["resultCode"] == "PermanentFailure"
    assert failures_counted(capsys) == ["AccessDenied"]


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"), "TemporaryFailure"),
        (ReadTimeoutError(endpoint_url="https://s3.amazonaws.com"), "TemporaryFailure"),
        (ParamValidationError(report="Invalid bucket name"), "PermanentFailure"),
    ],
    ids=["connection dropped", "read timed out", "request refused by botocore"],
)
def test_given_botocore_fails_before_s3_answers_when_run_then_only_a_network_failure_is_retried(
    batch, cat_photos, monkeypatch, failure, code
):
    # GIVEN a photo, and S3 calls that fail in botocore itself (no S3 answer, so no ClientError)
    boto3.client("s3").put_object(Bucket=BUCKET, Key="uploads/cat.jpg", Body=cat_photos[0].read_bytes())

    get_object = batch.labeler.s3.get_object

    def fails(**kwargs):
        if kwargs["Key"] == "uploads/cat.jpg":  # the photo's download; its label is read as always
            raise failure
        return get_object(**kwargs)

    monkeypatch.setattr(batch.labeler.s3, "get_object", fails)

    # WHEN its task runs
    result = run(batch, "uploads/cat.jpg")

    # THEN the job is answered, not the invocation failed: a network failure is retried by Batch
    # Operations, a request botocore refuses to send fails the same way every time and is reported
    assert result["resultCode"] == code
    assert result["resultString"].startswith(f"{type(failure).__name__}: ")
    assert boto3.client("s3").list_objects_v2(Bucket=BUCKET)["KeyCount"] == 1  # no label written


def test_given_a_task_with_an_empty_key_when_run_then_it_is_a_permanent_failure(batch, capsys, caplog):
    result = run(batch, "")

    assert result["resultCode"] == "PermanentFailure"  # a retry cannot give it a key
    assert "no key" in result["resultString"]
    assert boto3.client("s3").list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
    # said and counted (it was neither)
    assert failures_counted(capsys) == ["NoKey"]
    assert [r.message for r in caplog.records if r.levelname == "WARNING"] == [
        "refused: the task names no key"
    ]


def test_given_an_invocation_naming_two_tasks_when_run_then_it_fails_saying_so_and_writes_nothing(
    batch, cat_photos
):
    # GIVEN an invocation that breaks Batch Operations' one-task contract, over two real photos
    s3 = boto3.client("s3")
    for name in ("a.jpg", "b.jpg"):
        s3.put_object(Bucket=BUCKET, Key=f"uploads/{name}", Body=cat_photos[0].read_bytes())
    event = task_event("uploads/a.jpg")
    event["tasks"].append(task_event("uploads/b.jpg", task_id="task-2")["tasks"][0])

    # WHEN it is run, THEN it fails in words (an answer of one result would have lost the other task)
    with pytest.raises(ValueError, match="names one task, this one names 2"):
        batch.lambda_handler(event, LambdaContext())
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == [
        "uploads/a.jpg",
        "uploads/b.jpg",
    ]


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("labels/x.jpg.json", "a label, not a photo"),
        ("bulk-labels/archive/x.jpg.json", "a label, not a photo"),
        ("batch/inventory/catdog/config/data/abc.csv.gz", "a batch job's manifest or report, not a photo"),
        ("batch/reports/job-1/results/x.csv", "a batch job's manifest or report, not a photo"),
        ("uploads/2024/", "a folder marker, not a photo"),
        ("archive/2024/", "a folder marker, not a photo"),
    ],
)
def test_given_a_label_a_job_file_or_a_folder_marker_in_the_manifest_when_run_then_it_is_skipped_as_done(
    batch, key, why
):
    result = run(batch, key)

    # done, not failed: a whole-bucket inventory lists every label, folder and job file; none may stop the job
    assert (result["resultCode"], result["resultString"]) == ("Succeeded", f"skipped: {why}")
    assert boto3.client("s3").list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_given_photos_under_batch_in_an_existing_bucket_when_their_tasks_run_then_they_are_labelled(
    batch_with_archive, cat_photos
):
    # GIVEN the same photo under batch/ of the stack's bucket and of its ExistingBucketName archive
    s3 = boto3.client("s3")
    for bucket in (BUCKET, "photo-archive"):
        s3.put_object(Bucket=bucket, Key="batch/2019/cat.jpg", Body=cat_photos[0].read_bytes())

    # WHEN a job's tasks name both
    results = {
        bucket: run(batch_with_archive, "batch/2019/cat.jpg", bucket=bucket)
        for bucket in (BUCKET, "photo-archive")
    }

    # THEN only the stack's batch/ holds the jobs' own files; the archive's folder is photos, labelled
    assert results[BUCKET]["resultString"] == "skipped: a batch job's manifest or report, not a photo"
    assert results["photo-archive"]["resultCode"] == "Succeeded"
    assert json.loads(results["photo-archive"]["resultString"])["label"] == "cat"
    assert read_json("photo-archive", "bulk-labels/batch/2019/cat.jpg.json")["label"] == "cat"


def bulk_md_manifest_generator() -> dict:
    """The ``--manifest-generator`` argument of docs/bulk.md's "No manifest" job, as the shell passes it."""
    bulk = (REPO / "docs" / "bulk.md").read_text()
    command = re.search(r"### c\) No manifest.*?```bash\n(.*?)```", bulk, flags=re.S)[1]
    argument = re.search(r'--manifest-generator "(.*)"', command, flags=re.S)[1]
    return json.loads(argument.replace('\\"', '"').replace("$BUCKET", BUCKET))


def generated_manifest(generator: dict, keys: list[str]) -> list[str]:
    """The keys S3 puts in a generated manifest: ``KeyNameConstraint`` matches as S3 documents it, by
    prefix, suffix and substring, case-sensitively."""
    constraint = generator["S3JobManifestGenerator"].get("Filter", {}).get("KeyNameConstraint", {})

    def matches(key: str) -> bool:
        return (
            any(key.startswith(p) for p in constraint.get("MatchAnyPrefix", [""]))
            and any(key.endswith(s) for s in constraint.get("MatchAnySuffix", [""]))
            and any(s in key for s in constraint.get("MatchAnySubstring", [""]))
        )

    return [key for key in keys if matches(key)]


def test_given_photos_named_as_cameras_name_them_when_bulk_mds_generated_job_runs_then_each_is_labelled(
    batch, cat_photos
):
    # GIVEN photos under archive/ with the names cameras and tools give them: DSC_0001.JPG is a camera's
    # default, and every accepted type (catdog.imagetypes), whatever the case of its suffix
    from PIL import Image

    s3 = boto3.client("s3")
    jpeg = cat_photos[0].read_bytes()
    photos = {"archive/DSC_0001.JPG": jpeg, "archive/IMG_2.jpeg": jpeg, "archive/scan.Jpg": jpeg}
    for key, kind in (("archive/shot.webp", "WEBP"), ("archive/scan.TIF", "TIFF"), ("archive/a.png", "PNG")):
        encoded = io.BytesIO()
        Image.open(cat_photos[0]).save(encoded, kind)
        photos[key] = encoded.getvalue()
    for key, body in photos.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]

    # WHEN the job docs/bulk.md gives for "no manifest" runs: its generator picks the tasks
    tasks = generated_manifest(bulk_md_manifest_generator(), listed)
    results = {key: run(batch, key) for key in tasks}

    # THEN every photo is a task and is labelled (a suffix filter is case-sensitive: [".jpg"] skipped the
    # camera's .JPG and every WebP and TIFF, with no failed task to say so)
    assert sorted(tasks) == sorted(photos)
    assert {key: r["resultCode"] for key, r in results.items()} == dict.fromkeys(photos, "Succeeded")
    assert {key: read_json(BUCKET, f"bulk-labels/{key}.json")["label"] for key in photos} == dict.fromkeys(
        photos, "cat"
    )


def test_given_a_missing_photo_labelled_before_or_never_when_run_then_both_are_counted_and_logged_alike(
    batch, cat_photos, capsys, caplog
):
    # GIVEN a photo labelled once then deleted, and a photo never labelled and not there either
    s3 = boto3.client("s3")
    s3.put_object(Bucket=BUCKET, Key="archive/deleted.jpg", Body=cat_photos[0].read_bytes())
    assert run(batch, "archive/deleted.jpg")["resultCode"] == "Succeeded"
    s3.delete_object(Bucket=BUCKET, Key="archive/deleted.jpg")
    capsys.readouterr()
    caplog.clear()

    # WHEN a job's tasks name both
    results = [run(batch, key)["resultCode"] for key in ("archive/deleted.jpg", "archive/never.jpg")]

    # THEN both are failed tasks, each a not_found ImageError and a warning: the deleted one was counted as
    # DuplicatesSkipped (a re-run that found nothing to do) and logged at INFO, so a dashboard of ImageErrors
    # by code missed the photos a job found deleted once they had been labelled
    assert results == ["PermanentFailure", "PermanentFailure"]
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    metrics = [line for line in lines if "_aws" in line]
    assert [m.get("code") for m in metrics if "ImageErrors" in m] == ["not_found", "not_found"]
    assert not any("DuplicatesSkipped" in m for m in metrics)
    warned = [r for r in caplog.records if r.levelname == "WARNING"]
    assert sorted(r.key for r in warned) == ["archive/deleted.jpg", "archive/never.jpg"]


def test_given_a_photo_whose_key_is_near_s3s_limit_when_run_then_the_result_string_is_still_json(
    batch, cat_photos
):
    # GIVEN a photo whose key (1,002 bytes) leaves its label key unhashed (1,011 bytes)
    key = "archive/" + "a" * 990 + ".jpg"
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=cat_photos[0].read_bytes())

    # WHEN a job's task names it
    result = run(batch, key)

    # THEN the report's resultString is JSON with the answer, within 1,024 bytes: it was clipped to 1,024
    # characters with "..." in the middle of the label key, so a report reader parsing it failed there
    assert result["resultCode"] == "Succeeded"
    summary = json.loads(result["resultString"])
    assert summary["label"] == read_json(BUCKET, f"bulk-labels/{key}.json")["label"] == "cat"
    assert len(result["resultString"].encode()) <= 1024


def test_given_a_photo_whose_key_is_of_two_byte_letters_when_run_then_the_result_string_is_json_in_1024_bytes(
    batch, cat_photos
):
    # GIVEN a photo whose key is 507 characters but 1,002 UTF-8 bytes ("é" is two), so that the answer with
    # its label key is some 570 characters but more than 1,024 bytes
    key = "uploads/" + "é" * 495 + ".jpg"
    label_key = "labels/" + "é" * 495 + ".jpg.json"  # 1,006 bytes: not hashed
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=cat_photos[0].read_bytes())

    # WHEN a job's task names it
    result = run(batch, key)

    # THEN the report's resultString is the answer as whole JSON within 1,024 bytes, the label key left out
    # (the limit is in bytes: counted in characters, the label key would stay in and the string be over)
    assert result["resultCode"] == "Succeeded"
    label = read_json(BUCKET, label_key)
    assert label["key"] == key and label["label"] == "cat"
    answer = {
        "label": "cat",
        "confidence": label["confidence"],
        "written": True,
        "model": label["model"]["version"],
    }
    with_label_key = json.dumps({**answer, "labels_key": label_key}, ensure_ascii=False)
    assert len(with_label_key) < 1024 < len(with_label_key.encode())  # what a count of characters misses
    assert len(result["resultString"].encode()) <= 1024
    assert json.loads(result["resultString"]) == answer
