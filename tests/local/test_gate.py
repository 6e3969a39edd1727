"""CORS of the embedded S3 when the page is reached over the LAN (``catdog serve --host 0.0.0.0``)."""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from local.gate import S3Gate


def moto(environ, start_response):
    start_response("200 OK", [])
    return [b""]


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://192.0.2.7:8000", True),  # the page, reached by the address the phone used for S3 too
        ("http://192.0.2.8:8000", False),  # another machine
        ("http://192.0.2.7:8001", False),  # another port of this machine
        ("https://192.0.2.7:8000", False),
        ("http://evil.example", False),
    ],
)
def test_given_a_page_on_the_lan_when_a_phone_preflights_an_upload_then_only_the_pages_origin_is_allowed(
    origin, allowed
):
    client = Client(S3Gate(moto, "secret", 1000, page_port=lambda: 8000))

    response = client.options(
        "/catdog-local",
        headers={"Host": "192.0.2.7:5555", "Origin": origin, "Access-Control-Request-Method": "POST"},
    )

    assert response.status_code == (200 if allowed else 403)
    assert response.headers.get("Access-Control-Allow-Origin") == (origin if allowed else None)
