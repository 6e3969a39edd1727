"""The web function (page + API behind the HTTP API) over a moto bucket, driven by HTTP API v2 events.

The event is ``events/web-create-upload.json`` (what ``sam local invoke WebFunction`` takes), rewritten
for each route. The presigned POST it returns is checked with the same POST policy check the embedded
S3 of ``catdog serve`` runs, so the page gets the same answer locally and on AWS.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import socket
import threading
import time
from datetime import datetime
from urllib.parse import parse_qsl, quote, unquote

import boto3
import pytest
from botocore.exceptions import ClientError
from conftest import REPO, load_event
from lambda_harness import LambdaContext, aws_environment, handler_on_bucket, load_handler

from local.post_policy import PolicyViolation, check_post_policy

BUCKET = "catdog-web-test"
MAX_BYTES = 100_000


@pytest.fixture
def web(monkeypatch, tmp_path):
    monkeypatch.setenv("BUCKET_NAME", BUCKET)
    monkeypatch.setenv("MAX_IMAGE_BYTES", str(MAX_BYTES))
    with handler_on_bucket("web", monkeypatch, tmp_path, BUCKET) as app:  # the web function loads no model
        yield app


def call(web, method: str, path: str, body: object = None) -> tuple[int, str, dict]:
    """Invoke the function as the HTTP API would (the path URL-decoded, the query string as sent and its
    values decoded); returns status, content type and body."""
    response = invoke(web, method, path, body)
    return response["statusCode"], response["headers"]["Content-Type"], response["body"]


def invoke(web, method: str, path: str, body: object = None) -> dict:
    """The function's whole response to one request, built as in ``call``."""
    event = copy.deepcopy(load_event("web-create-upload.json"))
    path, _, query = path.partition("?")
    event["rawPath"] = event["requestContext"]["http"]["path"] = unquote(path)
    event["rawQueryString"] = query
    if query:
        event["queryStringParameters"] = dict(parse_qsl(query))
    event["requestContext"]["http"]["method"] = method
    event["body"] = body if body is None or isinstance(body, str) else json.dumps(body)
    return web.lambda_handler(event, LambdaContext())


def test_given_the_sample_event_when_an_upload_is_requested_then_a_presigned_post_with_limits_comes_back(web):
    status, content_type, body = call(
        web, "POST", "/api/uploads", json.loads(load_event("web-create-upload.json")["body"])
    )

    assert status == 201 and content_type == "application/json"
    upload = json.loads(body)
    assert upload["key"].startswith("uploads/") and upload["key"].endswith("/whiskers.jpg")
    assert upload["url"].startswith(f"https://{BUCKET}.s3")
    policy = json.loads(base64.b64decode(upload["fields"]["policy"]))
    assert ["content-length-range", 1, MAX_BYTES] in policy["conditions"]
    assert {"Content-Type": "image/jpeg"} in policy["conditions"]
    assert {"key": upload["key"]} in policy["conditions"]


def test_given_an_upload_request_when_presigned_then_the_form_stays_valid_for_an_hour(web):
    before = time.time()
    upload = json.loads(
        call(web, "POST", "/api/uploads", {"filename": "c.jpg", "content_type": "image/jpeg"})[2]
    )

    policy = json.loads(base64.b64decode(upload["fields"]["policy"]))
    expires = datetime.fromisoformat(policy["expiration"]).timestamp()
    # 20 MB at 6 kB/s, a slow phone link, takes 56 minutes: S3 refuses a form that expires meanwhile
    assert upload["expires_in"] == 3600 and before + 3600 - 5 <= expires <= time.time() + 3600 + 5


def test_given_a_presigned_post_when_checked_like_s3_then_a_photo_passes_and_a_bigger_file_does_not(
    web, cat_photos
):
    upload = json.loads(
        call(web, "POST", "/api/uploads", {"filename": "c.jpg", "content_type": "image/jpeg"})[2]
    )
    fields = upload["fields"]
    secret = boto3.Session().get_credentials().secret_key  # what the function signed with

    check_post_policy(fields, BUCKET, cat_photos[0].stat().st_size, secret)
    with pytest.raises(PolicyViolation) as refused:
        check_post_policy(fields, BUCKET, MAX_BYTES + 1, secret)
    assert refused.value.code == "EntityTooLarge"
    with pytest.raises(PolicyViolation) as forged:
        check_post_policy(fields, BUCKET, 10, "another secret")
    assert forged.value.code == "SignatureDoesNotMatch"


def presigned_form(web) -> tuple[dict, str]:
    """The form fields of one upload the function presigns, and the secret it signed them with."""
    upload = json.loads(
        call(web, "POST", "/api/uploads", {"filename": "c.jpg", "content_type": "image/jpeg"})[2]
    )
    return upload["fields"], boto3.Session().get_credentials().secret_key


def test_given_a_presigned_post_when_fields_are_added_then_only_x_ignore_ones_pass_the_check_like_s3s(
    web, cat_photos
):
    # GIVEN the form the function presigns
    fields, secret = presigned_form(web)
    size = cat_photos[0].stat().st_size

    # WHEN fields it does not sign are added: ones named x-ignore-* (which S3 skips, in either letter case),
    # and others, among them names that only look like x-ignore-
    unsigned = {
        "acl": "public-read",
        "success_action_redirect": "https://example.com/",
        "x-amz-meta-owner": "someone",
        "x-ignorepadding": "p",
        "x-ignore": "p",
    }

    # THEN the x-ignore- ones pass, and any other is refused as S3 refuses it, naming the field: a public
    # ACL, a redirect or metadata the function never signed would otherwise be stored with the photo
    check_post_policy({**fields, "x-ignore-padding": "p" * 1000, "X-Ignore-Note": "n"}, BUCKET, size, secret)
    for name, value in unsigned.items():
        with pytest.raises(PolicyViolation) as refused:
            check_post_policy({**fields, name: value}, BUCKET, size, secret)
        assert (refused.value.status, refused.value.code) == (403, "AccessDenied"), name
        assert refused.value.message == f"Invalid according to Policy: Extra input fields: {name}"


@pytest.mark.parametrize("algorithm", [None, "AWS4-HMAC-SHA1", "aws4-hmac-sha256", "AWS4-ECDSA-P256-SHA256"])
def test_given_a_presigned_post_with_another_signing_algorithm_when_checked_then_refused_for_its_algorithm(
    web, cat_photos, algorithm
):
    # GIVEN the form the function presigns, its x-amz-algorithm (AWS4-HMAC-SHA256) left out or changed
    fields, secret = presigned_form(web)
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    form = {name: value for name, value in fields.items() if name != "x-amz-algorithm"}
    if algorithm:
        form["x-amz-algorithm"] = algorithm

    # WHEN it is checked
    with pytest.raises(PolicyViolation) as refused:
        check_post_policy(form, BUCKET, cat_photos[0].stat().st_size, secret)

    # THEN refused for its algorithm, before its signature or conditions are read (a condition that failed
    # would be an AccessDenied that names no algorithm)
    assert (refused.value.status, refused.value.code) == (400, "InvalidArgument")
    assert refused.value.message == "only AWS4-HMAC-SHA256 signed policies are accepted"


@pytest.mark.parametrize("content_type", ["image/jpg", "image/pjpeg", "Image/JPG; charset=binary"])
def test_given_a_script_sending_another_name_of_jpeg_when_an_upload_is_requested_then_it_is_signed_as_jpeg(
    web, cat_photos, content_type
):
    # GIVEN a client that names JPEG as scripts do (it was refused: 415 not_an_image)
    # WHEN it asks for an upload
    status, _, body = call(
        web, "POST", "/api/uploads", {"filename": "IMG_2.JPG", "content_type": content_type}
    )

    # THEN the form is signed for image/jpeg, the type S3 then stores and serves, and S3's check passes
    assert status == 201, body
    upload = json.loads(body)
    assert upload["key"].endswith("/IMG_2.jpg") and upload["fields"]["Content-Type"] == "image/jpeg"
    policy = json.loads(base64.b64decode(upload["fields"]["policy"]))
    assert {"Content-Type": "image/jpeg"} in policy["conditions"]
    secret = boto3.Session().get_credentials().secret_key
    check_post_policy(upload["fields"], BUCKET, cat_photos[0].stat().st_size, secret)


def label_path(key: str) -> str:
    """What the page asks for an upload's label."""
    return "/api/labels?key=" + quote(key, safe="")


@pytest.mark.parametrize("name", ["100%25 off.jpg", "my%20cat.jpg", "what?.jpg", "#1 cat.jpg"])
def test_given_a_name_a_decoded_path_would_garble_when_its_label_is_read_then_that_uploads_label(web, name):
    key = f"uploads/0f/{name}"
    label = {"bucket": BUCKET, "key": key, "label": "cat", "confidence": 0.9}
    boto3.client("s3").put_object(Bucket=BUCKET, Key=f"labels/0f/{name}.json", Body=json.dumps(label))

    status, _, body = call(web, "GET", label_path(key))

    assert status == 200 and json.loads(body) == label


def test_given_a_label_not_yet_written_when_read_then_404_and_once_written_then_the_json(web):
    key = "uploads/0f/My cat + ça.jpg"
    path = label_path(key)
    assert call(web, "GET", path)[0] == 404
    label = {"bucket": BUCKET, "key": key, "label": "cat", "confidence": 0.9}
    boto3.client("s3").put_object(Bucket=BUCKET, Key="labels/0f/My cat + ça.jpg.json", Body=json.dumps(label))

    status, _, body = call(web, "GET", path)

    assert status == 200 and json.loads(body) == label


@pytest.mark.parametrize(
    "stored",
    [
        # what release 1.3.0's bulk job wrote for archive/a.jpg, at the upload's label key
        json.dumps({"bucket": BUCKET, "key": "archive/a.jpg", "label": "dog", "source": {"etag": "e"}}),
        "[]",
        "not JSON at all",
        "[" * 100_000,  # too deep for the parser: a RecursionError, once a 500
        json.dumps({"key": "uploads/archive/a.jpg", "label": "cat", "pad": "x" * 300_000}),  # no label's size
    ],
    ids=["another object's label", "a list", "not JSON", "nested too deep", "too large"],
)
def test_given_another_objects_or_a_damaged_document_at_the_label_key_when_read_then_404_pending(web, stored):
    boto3.client("s3").put_object(Bucket=BUCKET, Key="labels/archive/a.jpg.json", Body=stored)

    status, content_type, body = call(web, "GET", label_path("uploads/archive/a.jpg"))

    assert (status, content_type) == (404, "application/json")
    assert json.loads(body) == {
        "error": {"code": "pending", "message": "no label for uploads/archive/a.jpg yet"}
    }


def test_given_an_upload_with_a_key_at_s3s_limit_when_its_label_is_read_then_the_hashed_label_is_served(web):
    key = "uploads/0f/" + "é" * 504 + "a.jpg"  # 1,024 bytes: its label key would be 1,028
    label = {"bucket": BUCKET, "key": key, "label": "cat", "confidence": 0.9}
    label_key = f"labels/_long/{hashlib.sha256(key.encode()).hexdigest()}.json"
    boto3.client("s3").put_object(Bucket=BUCKET, Key=label_key, Body=json.dumps(label))

    status, _, body = call(web, "GET", label_path(key))

    assert status == 200 and json.loads(body) == label


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"filename": "notes.txt", "content_type": "text/plain"}, 415, "not_an_image"),
        ({"filename": "cat.jpg"}, 400, "bad_request"),
        ("{not json", 400, "bad_request"),
    ],
)
def test_given_a_bad_upload_request_when_sent_then_the_error_is_json(web, body, status, code):
    answer = call(web, "POST", "/api/uploads", body)
    assert answer[0] == status and json.loads(answer[2])["error"]["code"] == code


def test_given_a_heic_photo_when_an_upload_is_requested_then_it_is_refused_as_a_type_not_read_here(
    web,
):
    status, _, body = call(
        web, "POST", "/api/uploads", {"filename": "IMG_0001.HEIC", "content_type": "image/heic"}
    )

    message = json.loads(body)["error"]["message"]
    assert status == 415 and message.startswith(
        "IMG_0001.HEIC is image/heic, an image of a type not read here: "
    )
    assert "JPEG" in message


@pytest.mark.parametrize(
    ("field", "emoji", "status", "quoted"),
    [
        ("content_type", 550_000, 415, 119),
        ("filename", 550_000, 400, 0),  # above the 1,024 characters a name may have
        ("filename", 1_024, 415, 119),  # the longest name, its 12 kB of escapes not quoted whole either
    ],
)
def test_given_a_2_mb_name_or_type_of_emoji_when_refused_then_the_error_quotes_its_start_not_6_mb_of_escapes(
    web, field, emoji, status, quoted
):
    # GIVEN a body (2.2 MB: an HTTP API takes 10 MB, Lambda 6 MB) whose name or type is emoji
    request = {"filename": "cat.mp4", "content_type": "video/mp4", field: "\U0001f63a" * emoji}

    # WHEN it is sent: quoted whole, 550,000 emoji were 6.6 MB of JSON escapes, past Lambda's 6 MB
    # response limit, so API Gateway would have answered its own 500 (and set off WebServerErrorsAlarm)
    answer = call(web, "POST", "/api/uploads", json.dumps(request, ensure_ascii=False))

    # THEN the API's own error, quoting at most the start of what was sent
    assert answer[0] == status and len(answer[2].encode()) < 2000
    assert json.loads(answer[2])["error"]["message"].count("\U0001f63a") == quoted


def test_given_a_name_of_50_000_combining_marks_when_an_upload_is_requested_then_400_at_once_not_a_timeout(
    web,
):
    # GIVEN a 100 kB name whose combining marks Unicode normalisation must reorder, a quadratic sort:
    # 200 kB of them took 19 s, past the function's 10 s timeout (template.yaml)
    name = "a" + "\u0301" * 25_000 + "\u0316" * 25_000 + ".jpg"
    longest = "a" + "\u0301" * 510 + "\u0316" * 509 + ".jpg"  # 1,024 characters
    started = time.monotonic()

    # WHEN an upload is requested for it, and for the longest name taken
    status, _, body = call(web, "POST", "/api/uploads", {"filename": name, "content_type": "image/jpeg"})
    taken = call(web, "POST", "/api/uploads", {"filename": longest, "content_type": "image/jpeg"})

    # THEN the first is refused before any work, the second signed as ever
    assert status == 400 and json.loads(body)["error"] == {
        "code": "bad_request",
        "message": '"filename" may be 1,024 characters at most',
    }
    assert taken[0] == 201 and time.monotonic() - started < 1


def test_given_an_upload_request_nested_too_deep_to_parse_when_sent_then_400_not_a_500(web):
    # a 4 kB body that Python's JSON parser gives up on: it was a 500, which sets off WebServerErrorsAlarm
    status, _, body = call(web, "POST", "/api/uploads", "[" * 2000 + "]" * 2000)

    assert status == 400 and json.loads(body)["error"]["code"] == "bad_request"


def test_given_the_page_when_requested_then_the_html_and_its_assets_are_served(web):
    status, content_type, page = call(web, "GET", "/")
    assert status == 200 and content_type.startswith("text/html") and 'id="file-input"' in page
    assert call(web, "GET", "/static/app.js")[1].startswith("text/javascript")
    assert call(web, "GET", "/static/other.js")[0] == 404
    health = json.loads(call(web, "GET", "/api/health")[2])
    assert health["bucket"] == BUCKET and health["max_bytes"] == MAX_BYTES


@pytest.mark.parametrize("path", ["/api/labels", "/api/labels?key="])
def test_given_no_key_when_a_label_is_asked_for_then_400_says_the_key_is_required(web, path):
    status, _, body = call(web, "GET", path)

    assert status == 400
    assert json.loads(body) == {
        "error": {"code": "bad_request", "message": "the key query parameter is required"}
    }


@pytest.mark.parametrize(
    "key", ["uploads/", "uploads", "labels/a.jpg.json", "archive/a.jpg", "/uploads/a.jpg"]
)
def test_given_a_key_that_names_no_upload_when_a_label_is_asked_for_then_400_bad_key(web, key):
    # GIVEN a document naming the key at the label key it would have (labels/.json for the prefix alone)
    label = json.dumps({"bucket": BUCKET, "key": key, "label": "cat", "confidence": 0.9})
    boto3.client("s3").put_object(Bucket=BUCKET, Key=web.settings.label_key(key), Body=label)

    # WHEN the page asks for the label of the uploads prefix alone, or of a key outside it
    status, content_type, body = call(web, "GET", label_path(key))

    # THEN a bad request, and the document is not served: the prefix alone names no photo, so whatever is
    # at labels/.json is no upload's label, and the labels of keys outside uploads/ are not the page's
    assert (status, content_type) == (400, "application/json")
    assert json.loads(body) == {
        "error": {"code": "bad_key", "message": "labels exist only for keys under uploads/"}
    }


def test_given_the_page_when_requested_then_the_html_is_revalidated_and_no_asset_is_type_sniffed(web):
    page, script = invoke(web, "GET", "/"), invoke(web, "GET", "/static/app.js")

    assert page["headers"]["Cache-Control"] == "no-cache"  # a release reaches browsers at once
    assert script["headers"]["Cache-Control"] == "max-age=300"
    assert (
        page["headers"]["X-Content-Type-Options"] == script["headers"]["X-Content-Type-Options"] == "nosniff"
    )


def test_given_the_page_when_requested_then_its_policy_runs_only_its_own_files_and_sends_only_to_its_bucket(
    web,
):
    page = invoke(web, "GET", "/")
    upload = json.loads(
        call(web, "POST", "/api/uploads", {"filename": "a.jpg", "content_type": "image/jpeg"})[2]
    )

    policy = dict(d.strip().split(" ", 1) for d in page["headers"]["Content-Security-Policy"].split(";"))
    bucket_origin = "/".join(upload["url"].split("/")[:3])  # where the page posts the photo
    assert policy["connect-src"].split() == ["'self'", bucket_origin]
    assert policy["script-src"] == policy["style-src"] == "'self'" and policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "Content-Security-Policy" not in invoke(web, "GET", "/static/app.js")["headers"]


@pytest.mark.parametrize("path", ["/", "/static/app.css"])
def test_given_a_head_request_for_the_page_when_answered_then_its_headers_without_a_body(web, path):
    head, get = invoke(web, "HEAD", path), invoke(web, "GET", path)

    assert head["statusCode"] == 200 and head["body"] == "" and get["body"]
    assert head["headers"] == get["headers"]
    assert head["headers"]["Content-Length"] == str(len(get["body"].encode()))  # it said 0 through serve


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api/nothing-here", 404, "not_found"),
        ("GET", "/api/labels/uploads/a.jpg", 404, "not_found"),  # the key belongs in the query string
        ("GET", "/api/uploads", 405, "method_not_allowed"),
        ("DELETE", "/api/labels", 405, "method_not_allowed"),
        ("POST", "/api/health", 405, "method_not_allowed"),
    ],
)
def test_given_an_unknown_route_or_a_wrong_method_when_called_then_the_error_is_the_apis_json(
    web, method, path, status, code
):
    answer, content_type, body = call(web, method, path)

    document = json.loads(body)
    assert (answer, content_type) == (status, "application/json")
    assert list(document) == ["error"] and sorted(document["error"]) == ["code", "message"]
    assert document["error"]["code"] == code and path in document["error"]["message"]


def test_given_a_wrong_method_when_called_then_the_405_names_the_methods_the_route_takes(web):
    event = copy.deepcopy(load_event("web-create-upload.json"))
    event["requestContext"]["http"]["method"] = "GET"

    response = web.lambda_handler(event, LambdaContext())

    assert response["statusCode"] == 405 and response["headers"]["Allow"] == "POST"


def test_given_a_bug_inside_the_handler_when_a_label_is_read_then_a_json_500_without_the_details(
    web, monkeypatch
):
    def fail(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(web.s3, "get_object", fail)

    status, content_type, body = call(web, "GET", label_path("uploads/0f/a.jpg"))

    assert (status, content_type) == (500, "application/json")
    assert json.loads(body)["error"]["code"] == "internal_error" and "secret" not in body


@pytest.mark.parametrize(("code", "http_status"), [("AccessDenied", 403), ("SlowDown", 503)])
def test_given_s3_refusing_a_label_read_when_the_label_is_asked_for_then_a_json_500_not_a_pending_404(
    web, monkeypatch, code, http_status
):
    def refuse(**kwargs):
        raise ClientError(
            {
                "Error": {"Code": code, "Message": "secret internals"},
                "ResponseMetadata": {"HTTPStatusCode": http_status},
            },
            "GetObject",
        )

    monkeypatch.setattr(web.s3, "get_object", refuse)

    status, content_type, body = call(web, "GET", label_path("uploads/0f/a.jpg"))

    assert (status, content_type) == (500, "application/json")
    assert json.loads(body)["error"]["code"] == "internal_error" and "secret" not in body


def test_given_s3_that_accepts_and_never_answers_when_a_label_is_read_then_a_json_500_inside_the_timeout(
    monkeypatch, tmp_path
):
    # GIVEN the web function, its timeout as template.yaml sets it, on an S3 endpoint that accepts
    # connections and never answers
    (timeout,) = re.findall(
        r"\n  WebFunction:\n.*?\n      Timeout: (\d+)\n", (REPO / "template.yaml").read_text(), re.S
    )
    with socket.create_server(("127.0.0.1", 0), backlog=16) as stalled:
        aws_environment(monkeypatch, tmp_path)
        monkeypatch.setenv("BUCKET_NAME", BUCKET)
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{stalled.getsockname()[1]}")
        web = load_handler("web")

        # WHEN the page asks for a label
        answers = []
        asking = threading.Thread(
            target=lambda: answers.append(call(web, "GET", label_path("uploads/0f/a.jpg"))), daemon=True
        )
        asking.start()
        asking.join(int(timeout))

    # THEN the API's own JSON 500 ("it can be retried") comes back before Lambda would end the function
    # (botocore's defaults waited 60 s to connect and 60 s for each read, on each of 5 attempts: the
    # function timed out, and the page got API Gateway's error instead)
    assert answers, f"no answer within the function's {timeout} s"
    ((status, content_type, body),) = answers
    assert (status, content_type) == (500, "application/json")
    assert json.loads(body)["error"]["code"] == "internal_error"
