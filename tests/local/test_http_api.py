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
    event = client.post("/api/x", data=b"\x00\xff", content_type="application/octet-stream").get_json()

    assert event["isBase64Encoded"] and event["body"] == "AP8="


def test_given_a_body_above_the_limit_when_posted_then_413_json_and_the_handler_is_not_called():
    calls = []
    client = Client(HttpApi(lambda event, context: calls.append(event), lambda: None))

    response = client.post("/api/uploads", data=b"x" * (MAX_BODY_BYTES + 1), content_type="application/json")

    assert response.status_code == 413 and response.get_json()["error"]["code"] == "too_large"
    assert calls == []


@pytest.mark.parametrize(
    ("host", "s3"),
    [
        ("192.0.2.7:8000", "192.0.2.7:5555"),
        ("[::1]:8000", "[::1]:5555"),
        ("[::1]", "[::1]:5555"),  # a browser's Host for a page on port 80: it was cut to "[:"
        ("laptop.local", "laptop.local:5555"),
    ],
)
def test_given_a_lan_host_when_an_upload_is_presigned_then_its_url_names_that_host_and_the_s3_port(host, s3):
    def presign(event, context):
        body = {"url": "http://127.0.0.1:5555/bucket", "key": "uploads/x/a.jpg"}
        return {"statusCode": 201, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}

    client = Client(HttpApi(presign, lambda: None, s3_port_for_browsers=5555))

    response = client.post("/api/uploads", json={}, headers={"Host": host})

    assert response.get_json()["url"] == f"http://{s3}/bucket"


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


def test_given_a_query_in_raw_utf_8_when_served_then_the_handler_gets_it_decoded_as_the_path_is(client):
    # curl sends "é" as its two UTF-8 bytes; WSGI hands them over as Latin-1 text ("Ã©")
    raw = "key=uploads/x/café.jpg".encode().decode("latin-1")

    event = client.get("/api/labels", environ_overrides={"QUERY_STRING": raw}).get_json()

    assert event["queryStringParameters"] == {"key": "uploads/x/café.jpg"}


@pytest.mark.parametrize(
    ("method", "path", "routed"),
    [
        ("GET", "/", True),
        ("HEAD", "/", True),
        ("GET", "/static/app.js", True),
        ("HEAD", "/static/app.js", True),
        ("DELETE", "/api/labels", True),
        ("GET", "/api/a/b", True),
        ("POST", "/", False),
        ("DELETE", "/static/app.js", False),
        ("GET", "/static/a/b.js", False),
        ("GET", "/static/", False),
        ("GET", "/favicon.ico", False),
        ("GET", "/api", False),
        ("GET", "/api/", False),
    ],
)
def test_given_a_request_when_served_then_only_the_templates_routes_reach_the_function(method, path, routed):
    calls = []

    def handler(event, context):
        calls.append(event)
        return {"statusCode": 200, "body": ""}

    response = Client(HttpApi(handler, lambda: None)).open(path, method=method)

    # THEN as on AWS: the HTTP API answers a request that matches none of its routes itself (the local
    # stack handed every request to the function, which answered 405 or its own 404)
    assert (len(calls), response.status_code) == ((1, 200) if routed else (0, 404))
    if not routed:
        assert response.get_json() == {"message": "Not Found"}
