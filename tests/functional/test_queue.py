"""SQS consumer and ``catdog enqueue`` over real moto queues, real photos and the released model."""

from __future__ import annotations

import json
from urllib.parse import quote_plus

import boto3
import pytest
from botocore.exceptions import ClientError
from conftest import load_event
from lambda_harness import LambdaContext, handler_on_bucket, read_json

from catdog.enqueue import enqueue
from catdog.inputs import list_images
from catdog.settings import Settings

BUCKET = "catdog-photos"  # the bucket named in events/sqs-batch.json


@pytest.fixture
def queue(monkeypatch, serving_model):
    with handler_on_bucket("queue", monkeypatch, serving_model, BUCKET) as app:
        yield app


@pytest.fixture
def queue_with_archive(monkeypatch, serving_model):
    """The queue function of a stack deployed with ``ExistingBucketName=photo-archive``."""
    with handler_on_bucket("queue", monkeypatch, serving_model, BUCKET, "photo-archive") as app:
        yield app


def sqs_event(*bodies: str) -> dict:
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "receiptHandle": f"r{i}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:catdog-queue",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


def s3_notification(key: str, **fields) -> str:
    """An S3 ObjectCreated notification as S3 delivers it to SQS: the key URL-encoded; ``fields`` (eTag,
    versionId) added to its object."""
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": BUCKET}, "object": {"key": quote_plus(key), "size": 1, **fields}},
    }
    return json.dumps({"Records": [record]})


def reference(key: str, bucket: str = BUCKET) -> str:
    return json.dumps({"bucket": bucket, "key": key})


def label_of(key: str) -> dict:
    return read_json(BUCKET, Settings().label_key(key))


def label_keys() -> set[str]:
    """Every label: an upload's under labels/, any other key's under bulk-labels/."""
    listing = boto3.client("s3").list_objects_v2(Bucket=BUCKET)
    return {obj["Key"] for obj in listing.get("Contents", []) if Settings().is_label(obj["Key"])}


def put(key: str, data: bytes) -> None:
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=data)


def test_given_a_batch_with_one_poisoned_message_when_handled_then_only_it_is_reported_failed(
    queue, cat_photos, dog_photos
):
    put("uploads/cat.jpg", cat_photos[0].read_bytes())
    put("uploads/my dog+1 é.jpg", dog_photos[0].read_bytes())
    put("uploads/broken.jpg", b"GIF89a but nothing else")
    event = sqs_event(
        reference("uploads/cat.jpg"),
        s3_notification("uploads/my dog+1 é.jpg"),
        "{not json",
        json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}),
        reference("uploads/broken.jpg"),
    )

    response = queue.lambda_handler(event, LambdaContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert label_of("uploads/cat.jpg")["label"] in ("cat", "dog")
    assert label_of("uploads/my dog+1 é.jpg")["key"] == "uploads/my dog+1 é.jpg"
    assert label_of("uploads/broken.jpg")["error"]["code"] == "invalid_image"
    assert label_keys() == {"labels/cat.jpg.json", "labels/my dog+1 é.jpg.json", "labels/broken.jpg.json"}


def test_given_the_sample_event_when_handled_then_both_shapes_are_labelled_and_the_test_event_dropped(
    queue, cat_photos, dog_photos
):
    put("archive/2019/garden cat é.jpg", cat_photos[2].read_bytes())
    put("archive/2020/dog + ball.jpg", dog_photos[2].read_bytes())

    response = queue.lambda_handler(load_event("sqs-batch.json"), LambdaContext())

    assert response == {"batchItemFailures": []}
    assert label_of("archive/2019/garden cat é.jpg")["label"] in ("cat", "dog")
    assert label_of("archive/2020/dog + ball.jpg")["label"] in ("cat", "dog")
    assert label_keys() == {
        "bulk-labels/archive/2019/garden cat é.jpg.json",
        "bulk-labels/archive/2020/dog + ball.jpg.json",
    }


def test_given_an_eventbridge_object_created_event_when_handled_then_its_object_is_labelled(
    queue, cat_photos
):
    # GIVEN what the QueueEventPrefix rule delivers: the EventBridge event itself as the message body
    put("archive/2021/cat on a mat.jpg", cat_photos[3].read_bytes())
    event = load_event("eventbridge-object-created.json")
    event["detail"]["bucket"]["name"] = BUCKET
    event["detail"]["object"] |= {"key": "archive/2021/cat on a mat.jpg", "etag": None}

    response = queue.lambda_handler(sqs_event(json.dumps(event)), LambdaContext())

    # THEN it is labelled (it was a poison message: "expected an S3 notification or {bucket, key}")
    assert response == {"batchItemFailures": []}
    assert label_of("archive/2021/cat on a mat.jpg")["label"] == "cat"


@pytest.mark.parametrize(
    "body",
    [
        f'{{"bucket": "{BUCKET}"}}',
        "[1, 2]",
        '{"bucket": "", "key": "x.jpg"}',
        f'{{"key": 3, "bucket": "{BUCKET}"}}',
        f'{{"bucket": "{BUCKET}", "key": "x.jpg", "etag": 7}}',
    ],
)
def test_given_a_message_naming_no_object_when_handled_then_it_fails_for_the_dead_letter_queue(
    queue, cat_photos, body
):
    put("x.jpg", cat_photos[0].read_bytes())  # the photo exists: only the message is wrong

    response = queue.lambda_handler(sqs_event(reference("x.jpg"), body), LambdaContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    (failure,) = queue.processor.exceptions
    assert failure[0] is queue.PoisonMessage  # refused as malformed, not failed on the way to S3
    assert label_keys() == {"bulk-labels/x.jpg.json"}  # its valid neighbour was labelled


def test_given_a_batch_whose_every_message_is_malformed_when_handled_then_each_is_reported_not_raised(
    queue,
):
    # WHEN a batch of nothing but messages naming no object is handled
    # (arrays nested too deep for the parser: a RecursionError, not a ValueError)
    response = queue.lambda_handler(sqs_event("{not json", "[1, 2]", "[" * 100_000), LambdaContext())

    # THEN it is answered like any other batch, every message listed as failed: raising instead would count
    # a bug in the function's Errors metric and fail the invocation for what is the messages' fault
    assert response == {"batchItemFailures": [{"itemIdentifier": f"m{i}"} for i in range(3)]}
    assert [failure[0] for failure in queue.processor.exceptions] == [queue.PoisonMessage] * 3
    assert label_keys() == set()


def throttle(queue, monkeypatch, key: str) -> None:
    """S3 answers SlowDown to every GET of ``key`` and serves the other objects."""
    get_object = queue.labeler.s3.get_object

    def throttled(**kwargs):
        if kwargs["Key"] == key:
            error = {"Code": "SlowDown", "Message": "Reduce your request rate"}
            raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 503}}, "GetObject")
        return get_object(**kwargs)

    monkeypatch.setattr(queue.labeler.s3, "get_object", throttled)


def test_given_s3_throttles_one_object_when_handled_then_only_its_message_is_retried(
    queue, cat_photos, dog_photos, monkeypatch
):
    put("uploads/cat.jpg", cat_photos[0].read_bytes())
    put("uploads/dog.jpg", dog_photos[0].read_bytes())
    throttle(queue, monkeypatch, "uploads/dog.jpg")
    response = queue.lambda_handler(
        sqs_event(reference("uploads/cat.jpg"), reference("uploads/dog.jpg")), LambdaContext()
    )

    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert label_keys() == {"labels/cat.jpg.json"}


def test_given_an_invocation_running_out_of_time_when_handled_then_messages_not_begun_fail_alone(
    queue, cat_photos
):
    # GIVEN three photos' messages, and an invocation with 10 s more than a message is begun with at the
    # first and 10 s less at the others (START_MARGIN_MS: its S3 calls and reads may all stall)
    for i in range(3):
        put(f"uploads/{i}.jpg", cat_photos[i].read_bytes())
    context = LambdaContext()
    margin = queue.START_MARGIN_MS
    times = iter([margin + 10_000, margin - 10_000, margin - 10_000])
    context.get_remaining_time_in_millis = lambda: next(times)

    # WHEN the batch is handled
    response = queue.lambda_handler(sqs_event(*(reference(f"uploads/{i}.jpg") for i in range(3))), context)

    # THEN the first is labelled and the two not begun come back on their own, rather than the function
    # timing out with nothing reported (all three back, each a receive nearer the dead-letter queue)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}
    assert label_keys() == {"labels/0.jpg.json"}


def test_given_an_object_removed_notification_when_handled_then_nothing_is_written(queue):
    removed = json.loads(s3_notification("uploads/gone.jpg"))
    removed["Records"][0]["eventName"] = "ObjectRemoved:Delete"

    response = queue.lambda_handler(sqs_event(json.dumps(removed)), LambdaContext())

    assert response == {"batchItemFailures": []}
    assert label_keys() == set()


@pytest.mark.parametrize("key", ["labels/cat.jpg.json", "archive/2024/", "uploads/2024/"])
def test_given_a_labels_key_or_a_folder_marker_when_handled_then_nothing_is_written(queue, key):
    put(key, b"{}" if key.endswith(".json") else b"")

    response = queue.lambda_handler(sqs_event(reference(key)), LambdaContext())

    assert response == {"batchItemFailures": []}
    assert label_keys() == ({key} if key.startswith("labels/") else set())


def test_given_a_photo_under_batch_in_an_existing_bucket_when_handled_then_it_is_labelled(
    queue_with_archive, cat_photos
):
    # GIVEN a photo under batch/ of the ExistingBucketName archive (the stack's job files are in its own)
    s3 = boto3.client("s3")
    s3.put_object(Bucket="photo-archive", Key="batch/2019/cat.jpg", Body=cat_photos[0].read_bytes())

    # WHEN a message names it (catdog enqueue s3://photo-archive/)
    response = queue_with_archive.lambda_handler(
        sqs_event(reference("batch/2019/cat.jpg", "photo-archive")), LambdaContext()
    )

    # THEN it is labelled in the archive (it was deleted from the queue as "ignored", unlabelled)
    assert response == {"batchItemFailures": []}
    assert read_json("photo-archive", "bulk-labels/batch/2019/cat.jpg.json")["label"] == "cat"


def test_given_an_enqueued_prefix_when_the_queue_is_drained_then_every_photo_is_labelled(
    queue, cat_photos, dog_photos
):
    photos = [*cat_photos[:12], *dog_photos[:11]]
    for i, path in enumerate(photos):
        put(f"uploads/batch/{i:02d}-{path.parent.name}.jpg", path.read_bytes())
    put("uploads/batch/notes.txt", b"not listed: not an image suffix")
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="catdog-work")["QueueUrl"]

    s3 = boto3.client("s3")
    report = enqueue(sqs, url, list_images(s3, BUCKET, "uploads/batch/", Settings()))
    bodies = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        bodies += [m["Body"] for m in messages]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in messages],
        )
    for start in range(0, len(bodies), 10):
        response = queue.lambda_handler(sqs_event(*bodies[start : start + 10]), LambdaContext())
        assert response == {"batchItemFailures": []}

    assert (report.sent, report.failed) == (23, [])
    assert sorted(json.loads(b)["key"] for b in bodies) == sorted(
        f"uploads/batch/{i:02d}-{p.parent.name}.jpg" for i, p in enumerate(photos)
    )
    labels = [label_of(json.loads(b)["key"]) for b in bodies]
    assert all(label["label"] in ("cat", "dog") and label["source"]["etag"] for label in labels)


def test_given_the_same_bytes_uploaded_again_as_a_new_version_when_notified_then_the_label_names_it(
    queue, cat_photos
):
    s3 = boto3.client("s3")
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    key, body = "archive/same.jpg", cat_photos[0].read_bytes()
    for _ in range(2):
        written = s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        fields = {"eTag": written["ETag"].strip('"'), "versionId": written["VersionId"]}
        assert queue.lambda_handler(sqs_event(s3_notification(key, **fields)), LambdaContext()) == {
            "batchItemFailures": []
        }

        assert label_of(key)["source"]["version_id"] == written["VersionId"]


def test_given_messages_that_fail_when_handled_then_the_log_says_which_and_why_for_each(
    queue, cat_photos, monkeypatch, caplog, capsys
):
    # GIVEN a good message, one that is not JSON, one S3 throttles, and one the invocation has no time for
    put("uploads/cat.jpg", cat_photos[0].read_bytes())
    put("uploads/dog.jpg", cat_photos[1].read_bytes())
    throttle(queue, monkeypatch, "uploads/dog.jpg")
    context = LambdaContext()
    times = iter([context.remaining_ms] * 3 + [queue.START_MARGIN_MS - 1])
    context.get_remaining_time_in_millis = lambda: next(times)
    bodies = (reference("uploads/cat.jpg"), "{not json", reference("uploads/dog.jpg"), reference("x.jpg"))

    # WHEN the batch is handled
    response = queue.lambda_handler(sqs_event(*bodies), context)

    # THEN each failed message has a warning naming it, its receive count and the reason (there was none:
    # a message reached WorkDeadLetters with no reason in the function's log), the S3 one its object too
    assert response == {"batchItemFailures": [{"itemIdentifier": f"m{i}"} for i in (1, 2, 3)]}
    logged = [r for r in caplog.records if r.getMessage().startswith("message failed")]
    failed = {r.message_id: r for r in logged}
    assert sorted(failed) == ["m1", "m2", "m3"]
    assert all(r.levelname == "WARNING" and r.receive_count == "1" and not r.exc_info for r in logged)
    assert failed["m1"].reason.startswith("PoisonMessage: not JSON")
    assert failed["m2"].reason.startswith("ClientError: An error occurred (SlowDown)")
    assert (failed["m2"].bucket, failed["m2"].key) == (BUCKET, "uploads/dog.jpg")
    assert failed["m3"].reason.startswith("NotStarted: ")
    assert label_keys() == {"labels/cat.jpg.json"}
    # and each is counted by its reason, so that retries show as a rate before the dead letters fill
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    counted = [m["reason"] for m in lines if "MessagesFailed" in m]
    assert sorted(counted) == ["NotStarted", "PoisonMessage", "SlowDown"]
