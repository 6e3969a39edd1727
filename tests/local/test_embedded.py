"""The embedded S3 and SQS of ``catdog serve`` in this process, without a model: the queue worker."""

from __future__ import annotations

import io
import time

import boto3
import pytest
from botocore.config import Config

from catdog.events import s3_objects
from local.embedded import EmbeddedS3, FunctionLog, UploadWorker, aws_environment, create_pipeline

BUCKET = "catdog-local"


def clients(storage: EmbeddedS3):
    env = aws_environment(storage.endpoint)
    session = boto3.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )
    s3 = session.client("s3", endpoint_url=storage.endpoint, config=Config(signature_version="s3v4"))
    return s3, session.client("sqs", endpoint_url=storage.endpoint)


@pytest.fixture
def storage():
    server = EmbeddedS3()
    server.start()
    yield server
    server.stop()


def wait_for(condition, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s")


def test_given_a_message_that_is_not_json_when_the_worker_gets_it_then_it_reports_it_and_serves_on(
    storage, tmp_path
):
    s3, sqs = clients(storage)
    queue = create_pipeline(s3, sqs, BUCKET, "uploads/", ["http://127.0.0.1:8000"], visibility_timeout=1)
    handled, bad = [], []
    log = FunctionLog(io.StringIO(), tmp_path / "classify.log")
    worker = UploadWorker(
        sqs,
        queue,
        lambda event, context: handled.extend(obj.key for obj in s3_objects(event)),
        on_done=lambda event: None,
        on_error=lambda event, exc: None,
        log=log,
        on_bad_message=lambda message, exc: bad.append(message["Body"]),
    )
    worker.start()
    try:
        sqs.send_message(QueueUrl=queue, MessageBody="not json {")
        wait_for(lambda: bad)
        s3.put_object(Bucket=BUCKET, Key="uploads/after.jpg", Body=b"x")

        wait_for(lambda: handled)

        assert worker.is_alive() and handled == ["uploads/after.jpg"]
        dead_letters = queue.replace(f"{BUCKET}-uploads", f"{BUCKET}-uploads-dlq")
        moved = wait_for(lambda: sqs.receive_message(QueueUrl=dead_letters).get("Messages"))
        assert [m["Body"] for m in moved] == ["not json {"] and bad == ["not json {"] * 3
    finally:
        worker.stop()
        log.close()
