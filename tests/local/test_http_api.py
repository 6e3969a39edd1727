"""The web function served locally (``local.http_api``): requests become HTTP API payload-2.0 events for
the very handler Lambda runs, and its answers become HTTP responses."""

from __future__ import annotations

import io
import json

import pytest
from werkzeug.test import Client

from local.http_api import MAX_BODY_BYTES, HttpApi


def echo(event: dict, context) -> dict:
    """A handler that answers with the event it got, as JSON."""
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(event)}


@pytest.fixture
def client() -> Client:
    return Client(HttpApi(echo, lambda: None))


def test_given_a_json_post_when_served_then_the_handler_gets_a_payload_2_event(client):
    response = client.post("/api/uploads?x=1", json={"filename": "a.jpg"}, headers={"X-Trace": "t"})

    event = response.get_json()
    assert response.status_code == 200
    assert (
        event["version"] == "2.0" and event["rawPath"] == "/api/uploads" and event["rawQueryString"] == "x=1"
    )
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["headers"]["x-trace"] == "t" and event["headers"]["content-type"] == "application/json"
    assert json.loads(event["body"]) == {"filename": "a.jpg"} and not event["isBase64Encoded"]


def test_given_a_binary_body_when_served_then_it_reaches_the_handler_base64_encoded(client):
    event = client.post("/x", data=b"\x00\xff", content_type="application/octet-stream").get_json()

    assert event["isBase64Encoded"] and event["body"] == "AP8="


def test_given_a_body_above_the_limit_when_posted_then_413_json_and_the_handler_is_not_called():
    calls = []
    client = Client(HttpApi(lambda event, context: calls.append(event), lambda: None))

    response = client.post("/api/uploads", data=b"x" * (MAX_BODY_BYTES + 1), content_type="application/json")

    assert response.status_code == 413 and response.get_json()["error"]["code"] == "too_large"
    assert calls == []


def test_given_a_lan_host_when_an_upload_is_presigned_then_its_url_names_that_host_and_the_s3_port():
    def presign(event, context):
        body = {"url": "http://127.0.0.1:5555/bucket", "key": "uploads/x/a.jpg"}
        return {"statusCode": 201, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}

    client = Client(HttpApi(presign, lambda: None, s3_port_for_browsers=5555))

    response = client.post("/api/uploads", json={}, headers={"Host": "192.0.2.7:8000"})

    assert response.get_json()["url"] == "http://192.0.2.7:5555/bucket"


def test_given_a_lan_host_when_the_page_is_served_then_its_policy_lets_it_post_to_the_s3_its_uploads_name():
    from catdog.web.api import page_policy

    def page(event, context):
        headers = {
            "Content-Type": "text/html",
            "Content-Security-Policy": page_policy("http://127.0.0.1:5555"),
        }
        return {"statusCode": 200, "headers": headers, "body": "<!doctype html>"}

    client = Client(HttpApi(page, lambda: None, s3_port_for_browsers=5555))

    response = client.get("/", headers={"Host": "192.0.2.7:8000"})

    assert response.headers["Content-Security-Policy"] == page_policy("http://192.0.2.7:5555")


def test_given_a_handler_that_raises_when_served_then_a_json_500_in_the_apis_shape():
    def broken(event, context):
        raise RuntimeError("secret internals")

    response = Client(HttpApi(broken, lambda: None)).get("/api/health")

    assert response.status_code == 500 and response.content_type == "application/json"
    assert response.get_json()["error"]["code"] == "internal_error" and b"secret" not in response.data


@pytest.mark.parametrize("length", ["ten", "-5"])
def test_given_a_content_length_that_is_not_a_size_when_posted_then_a_json_400(client, length):
    response = client.post("/api/uploads", data=b"{}", environ_overrides={"CONTENT_LENGTH": length})

    assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_request"


def test_given_a_name_twice_in_the_query_when_served_then_its_values_are_joined_as_the_http_api_does(client):
    event = client.get("/api/labels?key=uploads/a.jpg&key=uploads/b.jpg&x=").get_json()

    # the last value alone was served locally, while AWS hands the function "a,b"
    assert event["queryStringParameters"] == {"key": "uploads/a.jpg,uploads/b.jpg", "x": ""}


def test_given_a_chunked_json_body_when_posted_then_the_handler_gets_it_and_a_huge_one_is_refused(client):
    def chunked(data: bytes) -> dict:
        return {"wsgi.input": io.BytesIO(data), "wsgi.input_terminated": True}

    body = json.dumps({"filename": "a.jpg"}).encode()
    event = client.post(
        "/api/uploads", content_type="application/json", environ_overrides=chunked(body)
    ).get_json()
    huge = client.post(
        "/api/uploads",
        content_type="application/json",
        environ_overrides=chunked(b"x" * (MAX_BODY_BYTES + 1)),
    )

    assert json.loads(event["body"]) == {"filename": "a.jpg"}  # it was read as empty: a 400
    assert huge.status_code == 413
