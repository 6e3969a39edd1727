"""The embedded S3's POST policy check against policies that boto3 signs, as the web API's are signed."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.config import Config
from werkzeug.test import Client
from werkzeug.wrappers import Request

from local.gate import S3Gate
from local.post_policy import PolicyViolation, check_post_policy

SECRET = "unit-test-secret"
BUCKET = "photos"


def signed_form(
    conditions: list, fields: dict | None = None, expires_in: int = 60, key: str = "uploads/a.jpg"
) -> dict:
    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key=SECRET,
        config=Config(signature_version="s3v4"),
    )
    post = s3.generate_presigned_post(BUCKET, key, Fields=fields, Conditions=conditions, ExpiresIn=expires_in)
    return post["fields"]


def refusal(form: dict, size: int = 10, **kwargs) -> str:
    with pytest.raises(PolicyViolation) as refused:
        check_post_policy(form, kwargs.pop("bucket", BUCKET), size, SECRET, **kwargs)
    return refused.value.code


def test_given_a_starts_with_condition_when_the_field_matches_then_it_passes_and_otherwise_not():
    form = signed_form([["starts-with", "$Content-Type", "image/"]], {"Content-Type": "image/png"})

    check_post_policy(form, BUCKET, 10, SECRET)
    assert refusal({**form, "Content-Type": "text/html"}) == "AccessDenied"


def test_given_a_size_range_when_the_file_is_outside_then_too_large_or_too_small():
    form = signed_form([["content-length-range", 5, 100]])

    check_post_policy(form, BUCKET, 100, SECRET)
    assert refusal(form, size=101) == "EntityTooLarge"
    assert refusal(form, size=4) == "EntityTooSmall"


def test_given_an_expired_policy_when_checked_then_access_is_denied():
    form = signed_form([], expires_in=60)
    assert refusal(form, now=datetime.now(UTC) + timedelta(minutes=2)) == "AccessDenied"


def test_given_a_field_the_policy_does_not_mention_when_checked_then_access_is_denied():
    assert refusal({**signed_form([]), "acl": "public-read"}) == "AccessDenied"


def test_given_another_bucket_or_no_policy_when_checked_then_access_is_denied():
    assert refusal(signed_form([]), bucket="elsewhere") == "AccessDenied"
    assert refusal({"key": "uploads/a.jpg"}) == "AccessDenied"


MAX_FILE = 100_000
BOUNDARY = "catdogboundary"


def multipart(fields: dict, *parts: tuple[str, bytes]) -> bytes:
    """``fields`` then ``parts`` (name, data): "file" and "extra" as file parts, others as fields."""
    body = b""
    for name, value in [*((n, v.encode()) for n, v in fields.items()), *parts]:
        filename = f'; filename="{name}.jpg"' if name in ("file", "extra") else ""
        head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"{filename}\r\n\r\n'
        body += head.encode() + value + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


class Endless(io.RawIOBase):
    """A request body: ``head``, then zeros for ever; counts what is read from it, and gives up
    (fails the test) far beyond any bound rather than fill the memory."""

    def __init__(self, head: bytes = b""):
        self.head, self.read_bytes = head, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.read_bytes > 100 * MAX_FILE:
            raise AssertionError(f"{self.read_bytes:,} bytes read and still reading")
        data, self.head = self.head[: len(buffer)], self.head[len(buffer) :]
        buffer[:] = data + bytes(len(buffer) - len(data))
        self.read_bytes += len(buffer)
        return len(buffer)


@pytest.fixture
def gate():
    """The middleware in front of an app that records what reaches it (as moto would store it)."""
    stored = []

    def s3(environ, start_response):
        request = Request(environ)
        stored.append((request.form.to_dict(), request.files["file"].read()))
        start_response("204 No Content", [])
        return [b""]

    client = Client(S3Gate(s3, SECRET, MAX_FILE))
    client.stored = stored
    return client


def post(gate, body: bytes, **environ):
    return gate.post(
        f"/{BUCKET}",
        data=body,
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        environ_overrides=environ,
    )


def upload_form() -> dict:
    return signed_form([["content-length-range", 1, MAX_FILE]], {"key": "uploads/a.jpg"})


def test_given_a_signed_form_and_a_photo_when_posted_then_it_reaches_s3_whole(gate):
    photo = bytes(range(256)) * 300

    form = upload_form()

    response = post(gate, multipart(form, ("file", photo)))

    assert response.status_code == 204
    assert gate.stored == [(form, photo)]  # moto parses the same form again


@pytest.mark.parametrize(
    "parts",
    [
        [("extra", b"\0" * 25 * 1024 * 1024), ("file", b"x")],  # an extra file part before the file
        [("file", b"x"), ("after", b"\0" * 25 * 1024 * 1024)],  # a field after the file
        [("file", b"\0" * (MAX_FILE + 1))],
    ],
    ids=["extra-file-part", "field-after-the-file", "file-one-byte-over"],
)
def test_given_a_request_above_the_limit_in_any_part_when_posted_then_entity_too_large_and_nothing_stored(
    gate, parts
):
    response = post(gate, multipart(upload_form(), *parts))

    assert response.status_code == 400 and b"<Code>EntityTooLarge</Code>" in response.data
    assert gate.stored == []


def raw_multipart(*parts: tuple[str, bytes, bool]) -> bytes:
    """Parts as given (name, data, a file part or not), in order: forms a browser would not send."""
    body = b""
    for name, value, is_file in parts:
        filename = f'; filename="{name}.jpg"' if is_file else ""
        head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"{filename}\r\n\r\n'
        body += head.encode() + value + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


@pytest.mark.parametrize(
    ("trick", "message"),
    [
        ("a KEY beside the signed key", b"the form field 'key' is given more than once"),
        ("the key in two parts", b"the form field 'key' is given more than once"),
        ("a second file part", b"POST requires exactly one file upload per request."),
        ("a key after the file", b"the file must be the form's last part"),
        ("the key written Key", b"the form field 'Key' must be written 'key'"),
        ("the key written with a Kelvin sign", b"must be written 'key'"),
        ("the file part named FILE", b"the form field 'FILE' must be written 'file'"),
    ],
)
def test_given_a_form_s3_and_moto_would_read_differently_when_posted_then_refused_and_nothing_stored(
    gate, trick, message
):
    # GIVEN a genuine signed form for uploads/a.jpg, and a trick that moto would store elsewhere (it read
    # the lower-case "key", the first of two, the last file part, a field after the file)
    form = upload_form()
    fields = [(name, value.encode(), False) for name, value in form.items() if name != "key"]
    signed = ("key", b"uploads/a.jpg", False)
    other = ("key", b"labels/someone-else.jpg.json", False)
    parts = {
        "a KEY beside the signed key": [
            other,
            ("KEY", b"uploads/a.jpg", False),
            *fields,
            ("file", b"x", True),
        ],
        "the key in two parts": [
            ("key", b"uploads", False),
            *fields,
            ("key", b"/a.jpg", False),
            ("file", b"x", True),
        ],
        "a second file part": [signed, *fields, ("x-ignore-z", b"<html>" * 500, True), ("file", b"x", True)],
        "a key after the file": [signed, *fields, ("file", b"x", True), other],
        # the check read them as the key and the file, moto did not: a KeyError and an HTML 500
        "the key written Key": [("Key", b"uploads/a.jpg", False), *fields, ("file", b"x", True)],
        "the key written with a Kelvin sign": [
            ("\u212aey", b"uploads/a.jpg", False),
            *fields,
            ("file", b"x", True),
        ],
        "the file part named FILE": [signed, *fields, ("FILE", b"x", True)],
    }[trick]

    response = post(gate, raw_multipart(*parts))

    assert response.status_code == 400 and message in response.data, response.data
    assert gate.stored == []


@pytest.mark.parametrize("charset", ["iso-8859-1", "us-ascii"])
def test_given_the_signed_key_in_a_part_of_another_charset_when_posted_then_refused_and_nothing_stored(
    gate, charset
):
    # GIVEN a genuine form signed for uploads/é.jpg, whose key part says it is not UTF-8: moto (werkzeug's
    # form parser) reads the same bytes as "uploads/Ã©.jpg" (or "uploads/\ufffd\ufffd.jpg")
    key = "uploads/é.jpg"
    form = signed_form([["content-length-range", 1, MAX_FILE]], {"key": key}, key=key)
    body = b""
    for name, value in form.items():
        declared = f"Content-Type: text/plain; charset={charset}\r\n" if name == "key" else ""
        head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n{declared}\r\n'
        body += head.encode() + value.encode() + b"\r\n"
    body += (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\nx\r\n'.encode()
    )
    body += f"--{BOUNDARY}--\r\n".encode()

    # WHEN it is posted
    response = post(gate, body)

    # THEN the policy is checked on the key moto would store, which it does not allow: nothing is stored
    assert response.status_code == 403 and b"Policy Condition failed" in response.data, response.data
    assert gate.stored == []


def test_given_long_fields_before_the_file_when_posted_then_max_post_pre_data_length_exceeded(gate):
    form = {**upload_form(), "x-ignore-padding": "p" * 30_000}

    response = post(gate, multipart(form, ("file", b"x")))

    assert response.status_code == 400 and b"<Code>MaxPostPreDataLengthExceeded</Code>" in response.data
    assert gate.stored == []


def test_given_a_declared_300_mib_body_when_posted_then_it_is_refused_before_a_byte_is_read(gate):
    body = Endless()

    response = post(gate, b"", **{"wsgi.input": body, "CONTENT_LENGTH": str(300 * 1024 * 1024)})

    assert response.status_code == 400 and b"<Code>EntityTooLarge</Code>" in response.data
    assert body.read_bytes == 0 and gate.stored == []


def test_given_an_endless_body_without_a_length_when_posted_then_reading_stops_at_the_bound(gate):
    head = multipart(upload_form()).removesuffix(f"--{BOUNDARY}--\r\n".encode())
    head += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'.encode()
    body = Endless(head)  # a chunked upload whose file never ends

    response = post(gate, b"", **{"wsgi.input": body, "CONTENT_LENGTH": "", "wsgi.input_terminated": True})

    assert response.status_code == 400 and b"<Code>EntityTooLarge</Code>" in response.data
    assert body.read_bytes < MAX_FILE + 100_000 and gate.stored == []


@pytest.mark.parametrize("target", [f"/{BUCKET}?delete", f"/{BUCKET}/uploads/a.jpg", "/moto-api/reset"])
def test_given_a_genuine_upload_form_when_posted_anywhere_but_the_buckets_url_then_it_needs_a_signature(
    gate, target
):
    body = multipart(upload_form(), ("file", b"x"))

    response = gate.post(target, data=body, content_type=f"multipart/form-data; boundary={BOUNDARY}")

    assert response.status_code == 403 and b"<Code>AccessDenied</Code>" in response.data
    assert gate.stored == []


@pytest.mark.parametrize(
    ("trick", "status", "code"),
    [
        ("a field part without a name", 400, b"MalformedPOSTRequest"),
        ("a file part without a name", 400, b"MalformedPOSTRequest"),
        ("an Authorization header", 400, b"InvalidArgument"),
        ("a streaming payload header", 400, b"InvalidArgument"),
        ("a media type that only begins multipart/form-data", 403, b"AccessDenied"),
    ],
)
def test_given_a_form_with_what_moto_cannot_read_when_posted_then_s3s_error_and_nothing_stored(
    gate, trick, status, code
):
    # GIVEN a genuine signed form, with a part or a header moto fails on (a traceback and an HTML 500 in
    # catdog serve; a part without a name failed in the check itself) or acts on (a header signature, a
    # chunk-signed body): a browser's form POST carries neither
    form, headers = upload_form(), {}
    content_type = f"multipart/form-data; boundary={BOUNDARY}"
    body = multipart(form, ("file", b"x"))
    if trick.endswith("without a name"):
        filename = '; filename="a.jpg"' if trick.startswith("a file") else ""
        nameless = f"--{BOUNDARY}\r\nContent-Disposition: form-data{filename}\r\n\r\nx\r\n".encode()
        body = nameless + body
    elif trick == "an Authorization header":
        headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=a/20260101/us-east-1/sqs/aws4_request"
    elif trick == "a streaming payload header":
        headers["X-Amz-Content-Sha256"] = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    else:
        content_type = f"multipart/form-dataX; boundary={BOUNDARY}"

    # WHEN it is posted to the bucket
    response = gate.post(f"/{BUCKET}", data=body, content_type=content_type, headers=headers)

    # THEN S3's XML error, and nothing reaches moto
    assert response.status_code == status and b"<Code>" + code + b"</Code>" in response.data, response.data
    assert gate.stored == []
