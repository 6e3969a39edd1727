"""The embedded S3 and SQS of ``catdog serve`` in this process, without a model: the queue worker."""

from __future__ import annotations

import io
import threading
import time

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from catdog.events import s3_objects
from local.embedded import (
    ACCESS_KEY,
    SECRET_ENV,
    EmbeddedS3,
    FunctionLog,
    UploadWorker,
    aws_environment,
    create_pipeline,
    run_secret,
)

BUCKET = "catdog-local"


def s3_client(storage: EmbeddedS3, secret_key: str | None = None, access_key: str = ACCESS_KEY):
    """A boto3 S3 client of ``storage``, signing with ``secret_key`` (this run's by default)."""
    env = aws_environment(storage.endpoint, secret_key or storage.secret_key)
    return boto3.client(
        "s3",
        endpoint_url=storage.endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
        config=Config(signature_version="s3v4"),
    )


def clients(storage: EmbeddedS3):
    """The S3 and SQS clients that ``catdog serve`` itself would have."""
    env = aws_environment(storage.endpoint, storage.secret_key)
    sqs = boto3.client(
        "sqs",
        endpoint_url=storage.endpoint,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
    )
    return s3_client(storage), sqs


@pytest.fixture(scope="module")
def server():
    server = EmbeddedS3()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def storage(server):
    """The module's embedded S3, emptied (moto's backends are global to the process)."""
    from moto.moto_api._internal import moto_api_backend

    moto_api_backend.reset()
    server.page_port = None
    return server


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
    queue = create_pipeline(s3, sqs, BUCKET, "uploads/", visibility_timeout=1)
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


@pytest.fixture
def bucket(storage):
    s3, sqs = clients(storage)
    create_pipeline(s3, sqs, BUCKET, "uploads/")
    storage.page_port = 8000
    return s3


def test_given_two_runs_when_started_then_each_has_its_own_random_secret_key_unless_one_is_given():
    first, second = EmbeddedS3(), EmbeddedS3()

    assert len({first.secret_key, second.secret_key, "testing"}) == 3 and len(first.secret_key) >= 40
    assert run_secret({SECRET_ENV: "chosen by a test"}) == "chosen by a test"


def test_given_an_address_this_machine_lacks_when_started_then_it_raises_instead_of_waiting_for_ever():
    raised = []

    def start() -> None:
        try:
            EmbeddedS3("192.0.2.1", 0).start()  # TEST-NET-1: for documentation, never assigned
        except OSError as exc:
            raised.append(exc)

    starter = threading.Thread(target=start, daemon=True)
    starter.start()
    starter.join(20)

    assert not starter.is_alive() and "192.0.2.1" in str(raised[0])


def test_given_the_runs_secret_key_when_boto3_signs_with_it_then_every_call_is_served(storage, bucket):
    key = "uploads/my pets/Rex + Minou été 🐶.jpg"

    bucket.put_object(Bucket=BUCKET, Key=key, Body=b"photo")

    assert bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"photo"
    listed = bucket.list_objects_v2(Bucket=BUCKET, Prefix="uploads/my pets/")["Contents"]
    assert [o["Key"] for o in listed] == [key]


def test_given_the_old_fixed_secret_when_a_client_signs_with_it_then_it_is_refused(storage, bucket):
    forger = s3_client(storage, secret_key="testing", access_key="testing")

    with pytest.raises(ClientError) as refused:
        forger.list_objects_v2(Bucket=BUCKET)

    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


@pytest.mark.parametrize(
    "path", [f"/{BUCKET}?list-type=2", f"/{BUCKET}/uploads/a.jpg", "/moto-api/data.json"]
)
def test_given_an_anonymous_request_from_another_origin_when_sent_then_403_without_cors(
    storage, bucket, path
):
    bucket.put_object(Bucket=BUCKET, Key="uploads/a.jpg", Body=b"photo")

    response = requests.get(storage.endpoint + path, headers={"Origin": "http://evil.example"}, timeout=10)

    assert response.status_code == 403 and "<Code>AccessDenied</Code>" in response.text
    assert "Access-Control-Allow-Origin" not in response.headers


def test_given_a_post_policy_signed_with_the_old_fixed_secret_when_posted_then_it_is_refused(storage, bucket):
    def presign(secret: str) -> dict:
        return s3_client(storage, secret).generate_presigned_post(
            BUCKET, "uploads/p.jpg", Conditions=[["content-length-range", 1, 99]]
        )

    def upload(post: dict) -> requests.Response:
        return requests.post(
            post["url"], data=post["fields"], files={"file": ("p.jpg", b"photo")}, timeout=10
        )

    assert upload(presign("testing")).status_code == 403
    assert upload(presign(storage.secret_key)).status_code == 204


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [("http://127.0.0.1:8000", True), ("http://evil.example", False), ("http://127.0.0.1:9999", False)],
)
def test_given_a_preflight_when_it_comes_from_the_page_then_it_is_allowed_and_from_elsewhere_not(
    storage, bucket, origin, allowed
):
    response = requests.options(
        f"{storage.endpoint}/{BUCKET}",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        timeout=10,
    )

    assert (response.status_code, response.headers.get("Access-Control-Allow-Origin")) == (
        (200, origin) if allowed else (403, None)
    )


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.1", True), ("0.0.0.0", False)],  # 127.1: another name for 127.0.0.1
)
def test_given_where_it_listens_when_a_request_names_another_host_then_a_loopback_server_alone_refuses_it(
    host, loopback
):
    # GIVEN the embedded S3 on a loopback address, by its usual name or another (as a name /etc/hosts maps
    # to 127.0.0.1), or on every address
    storage = EmbeddedS3(host, 0)
    storage.start()
    try:
        port = storage.get_host_and_port()[1]

        # WHEN a request names a web site's host (DNS rebinding)
        response = requests.get(
            f"http://127.0.0.1:{port}/{BUCKET}", headers={"Host": f"rebind.example:{port}"}, timeout=10
        )

        # THEN on loopback the host is refused, whatever name the address was given by (127.1 was not
        # guarded); on every address it goes on to the signature check
        assert response.status_code == 403
        assert ("answers only requests to a loopback name" in response.text) is loopback
        assert ("AccessDenied" in response.text) is not loopback
    finally:
        storage.stop()
